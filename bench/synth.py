"""The bench's synthetic corpus: local news of invented towns, written from templates and word
lists (nothing is downloaded), the same files for the same seed.

>>> info = synth_corpus(Path("/tmp/c1k"), chunks=1000)      # doctest: +SKIP
>>> parse_size("10k"), size_label(10_000)
(10000, '10k')
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import InputError

# -- the synthetic corpus ------------------------------------------------------------------
# Local news of invented towns: each document is one event (a council, a company or a
# university deciding about a project) told in varied sentences built from templates and
# word lists, with numbers, dates, names and quotes, so chunking, sentence splitting, BM25
# and the answerer see text shaped like the real corpus.

_SYL = (
    "bar bel dor fen gal hal kor lin mar nor os pel quin ros sal tor ul vel wen yar zan "
    "brin cal dun eth fal grim hel isk jor kel lom mir nes ord pra ril sten tav ver wil"
).split()
_TOWN_END = (
    "ford",
    "haven",
    "mere",
    "stead",
    "wick",
    "bury",
    "holm",
    "vale",
    "by",
    "dorf",
    "ton",
    "minster",
)
_FIRST = (
    "Anna Marek Leila Tomas Ingrid Rafael Noor Elena Pieter Sofia Kenji Amara Lukas Hana Omar "
    "Greta Mateo Yara Jonas Priya Viktor Ines Samuel Freya Dmitri Clara Ayodele Henrik Lucia Farid"
).split()
_LAST = (
    "Halvorsen Novak Rahimi Castell Okafor Lindqvist Moreau Brandt Kovacs Ferreira Tanaka "
    "Mensah Dubois Petrov Aalto Richter Haddad Silva Eriksen Marino Weiss Kaya Olsen Varga "
    "Nakamura Adeyemi Costa Berg Schneider Rossi"
).split()
_BODY = (
    ("town council", "council"),
    ("regional assembly", "assembly"),
    ("port authority", "authority"),
    ("water board", "board"),
    ("university senate", "senate"),
    ("transport agency", "agency"),
    ("hospital trust", "trust"),
    ("chamber of commerce", "chamber"),
)
_ROLE = (
    "mayor",
    "finance director",
    "chief engineer",
    "spokesperson",
    "chair",
    "opposition leader",
    "union representative",
    "project manager",
    "head of planning",
    "auditor",
)
_PROJECT = (
    ("tram line", "the tracks", "passengers"),
    ("harbour wall", "the quay", "ships"),
    ("children's hospital", "the wards", "patients"),
    ("wind farm", "the turbines", "households"),
    ("water treatment plant", "the filters", "residents"),
    ("public library", "the reading rooms", "readers"),
    ("cycle bridge", "the crossing", "cyclists"),
    ("district heating network", "the pipes", "homes"),
    ("science park", "the laboratories", "researchers"),
    ("flood barrier", "the gates", "streets"),
    ("bus depot", "the electric fleet", "commuters"),
    ("concert hall", "the auditorium", "visitors"),
)
_DECIDE = ("approved", "rejected", "postponed", "scaled back", "expanded", "reopened talks on")
_REASON = (
    "rising construction costs",
    "a shortage of skilled workers",
    "objections from residents",
    "a court ruling on the environmental permit",
    "higher interest rates",
    "delays in steel deliveries",
    "a new national subsidy scheme",
    "falling tax revenue",
    "an independent safety review",
    "pressure from local businesses",
)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_FUNDER = (
    "the national government",
    "a European fund",
    "a private consortium",
    "local pension funds",
    "a bond issue",
)


@dataclass
class SynthDoc:
    source: str
    text: str
    place: str
    project: str
    amount: str
    question: str  # a question this document (and only this one) answers
    others: list[str] = field(default_factory=list)  # more such questions, of other kinds


@dataclass
class SynthInfo:
    docs: list[SynthDoc] = field(default_factory=list)
    words: int = 0
    est_chunks: int = 0


def _name(r: random.Random) -> str:
    return f"{r.choice(_FIRST)} {r.choice(_LAST)}"


def _town(r: random.Random, used: set[str]) -> str:
    tries = 0
    while True:
        # short names while there are free ones (about 21,000), then three syllables
        tries += 1
        n = r.randint(1, 2) if tries <= 50 else 3
        t = "".join(r.choice(_SYL) for _ in range(n)) + r.choice(_TOWN_END)
        t = t.capitalize()
        if t not in used:
            used.add(t)
            return t


def synth_document(r: random.Random, place: str, paragraphs: int) -> SynthDoc:
    """One news story about one decision, ``paragraphs`` paragraphs long; no sentence is
    repeated within a story (the model would embed a repeat for free, which real text rarely
    offers)."""
    body, short = r.choice(_BODY)
    project, part, users = r.choice(_PROJECT)
    verb = r.choice(_DECIDE)
    amount = f"{r.randint(3, 480)} million euros"
    day, month, year = r.randint(1, 28), r.choice(_MONTHS), r.randint(2019, 2026)
    p1, p2, p3, who = _name(r), _name(r), _name(r), _name(r)
    role1, role2, role3, role4 = r.sample(_ROLE, 4)
    reason, reason2, why = r.sample(_REASON, 3)
    funder = r.choice(_FUNDER)
    m2, m3 = r.sample(_MONTHS, 2)
    users_n = f"{r.randint(2, 95) * 1000:,}"
    lead = r.choice(
        [
            f"The {place} {body} {verb} the {amount} {project} on {day} {month} {year}.",
            f"On {day} {month} {year}, the {place} {body} {verb} plans for a {project} costing {amount}.",
            f"After months of debate, the {body} of {place} {verb} the {project}, a scheme priced at "
            f"{amount}.",
        ]
    )
    pool = [
        f"The vote in {place} passed by {r.randint(11, 40)} to {r.randint(2, 20)}, with several members "
        "abstaining.",
        f"{p1}, the {short}'s {role1}, said the decision followed {reason}.",
        f'"We cannot ask {users} to wait another decade," {p1} told reporters after the meeting.',
        f"About {r.randint(12, 88)}% of the money for {place} is expected to come from {funder}.",
        f"Engineers in {place} estimate that {part} will serve around {users_n} {users} a day once finished.",
        f"Work on {part} in {place} is planned to take {r.randint(2, 9)} years, according to the {short}'s "
        "timetable.",
        f"{p2}, the {role2}, warned that {reason2} could push the cost above {amount}.",
        f'"The numbers have changed since the first study," {p2} said, pointing to {reason2}.',
        f"Critics in {place} argue that the {project} was never the most urgent need.",
        f"A public consultation in {place} drew more than {r.randint(2, 40) * 100} written responses, most of "
        f"them about {part}.",
        f"The {short} in {place} will publish a revised budget for the {project} in {m2}.",
        f"{who}, who works as {role4} for a neighbouring town, called the plan realistic.",
        f"{who} added that {why} had already delayed similar schemes elsewhere.",
        f"Local shops near {part} in {place} fear {r.randint(2, 14)} months of road closures during "
        "construction.",
        f"The first contract, for preparatory work on {part} in {place}, is due to be signed in {m3} "
        f"{year + 1}.",
        f"Supporters say the {project} will cut travel times and bring {r.randint(40, 900)} new jobs "
        f"to {place}.",
        f"In {year - r.randint(1, 6)}, a smaller version of the {project} was shelved because of "
        f"{why}.",
        f"Residents of {place} can follow the progress of {part} on the {short}'s website.",
        f"The {role3} of the {short}, {p3}, said an independent audit would follow in {year + 1}.",
        f"A survey of {r.randint(3, 20) * 100} {users} in {place} found that {r.randint(20, 80)}% backed the plan.",
        f"Opposition members in {place} asked why {funder} had not been approached earlier.",
        f"The {short} in {place} said the {project} would be built to the highest safety standards.",
        f"Fees linked to the {place} {project} will be reviewed every {r.randint(2, 5)} years.",
        f"{p3} described the meeting as long but constructive.",
        f"The {short} of {place} first discussed the {project} in {year - r.randint(2, 8)}.",
        f"{_name(r)}, a resident of {place} for {r.randint(5, 40)} years, said the {project} was "
        "overdue.",
        f"Construction firms from {r.randint(2, 9)} countries have expressed interest in the "
        f"tender for the {place} {project}.",
        f"The {place} {project} is designed to last at least {r.randint(30, 100)} years.",
        f"Maintenance in {place} is expected to cost about {r.randint(1, 12)} million euros a year.",
        f"Environmental groups in {place} asked the {short} to protect the wetlands near {part}.",
        f"The next public meeting on the {place} {project} is scheduled for {r.randint(1, 28)} {m2}.",
        f"Towns around {place} have been invited to share the cost of {part}.",
        f"According to the {place} {short}'s own figures, {r.randint(10, 60)}% of {users} would benefit "
        "directly.",
        f"The decision ends a dispute that began when the first plans for {part} were published "
        f"in {place}.",
        f"{p1} said the {short} had learned from mistakes made on earlier projects.",
        f"Members of the {place} youth council presented a petition with {r.randint(3, 30) * 100} "
        "signatures.",
        f"The national audit office will review the {place} {project} once the first phase is complete.",
    ]
    r.shuffle(pool)
    paras: list[list[str]] = [[lead]]
    for i in range(paragraphs):
        take = r.randint(3, 5) - (1 if i == 0 else 0)
        paras[-1].extend(pool[:take])
        pool = pool[take:]
        if i < paragraphs - 1 and len(pool) >= 3:
            paras.append([])
        elif len(pool) < 3:
            break
    title = f"{place} {short} {verb} {amount} {project}"
    date = f"{year}-{_MONTHS.index(month) + 1:02d}-{day:02d}"
    text = (
        f"---\ntitle: {title}\ndate: {date}\nauthor: {_name(r)}\n---\n{title}\n\n"
        + "\n\n".join(" ".join(p) for p in paras if p)
        + "\n"
    )
    question = f"How much does the {project} in {place} cost?"
    others = [
        f"When did the {body} of {place} decide on the {project}?",
        f"What did the {place} {short} decide about the {project}?",
        f"Who warned that the cost of the {project} in {place} could rise?",
    ]
    return SynthDoc("", text, place, project, amount, question, others)


def synth_corpus(folder: Path, chunks: int, seed: int = 0) -> SynthInfo:
    """Write about ``chunks`` chunks' worth of synthetic news stories (200-token chunks) into
    ``folder`` as Markdown files with front matter; the same ``seed`` writes the same corpus.
    """
    r = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    info = SynthInfo()
    used: set[str] = set()
    tokens = 0.0
    # a chunk of 200 tokens with 40 of overlap moves on by about 160 tokens
    while tokens / 160 < chunks:
        place = _town(r, used)
        doc = synth_document(r, place, r.randint(3, 8))
        n = len(info.docs)
        doc.source = f"{n // 1000:03d}/{n:06d}-{place.lower()}.md"
        path = folder / doc.source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc.text, encoding="utf-8")
        words = len(doc.text.split())
        info.words += words
        tokens += words * 1.3 + 20  # word pieces per word, plus what a chunk loses at its edges
        info.docs.append(doc)
    info.est_chunks = round(tokens / 160)
    return info


def parse_size(label: str) -> int:
    """ "1k" -> 1000, "10k" -> 10000, "2500" -> 2500."""
    t = label.strip().lower()
    try:
        n = int(float(t[:-1]) * 1000) if t.endswith("k") else int(t)
    except ValueError:
        raise InputError(
            f"--sizes takes sizes like 1k,10k,100k. Currently, one is {label!r}."
        ) from None
    if n < 20:
        raise InputError(f"a bench size must be at least 20 chunks. Currently, one is {label!r}.")
    return n


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)
