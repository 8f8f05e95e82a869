"""Load: 20 concurrent clients ask the web app's `ask` endpoint on loopback while an upload is
being indexed. Every question gets its own answer from its own source, and p95 latency under
load stays within 5x of the unloaded p95 measured in the same run. The figures are written to
test-output/load.json."""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from dataclasses import dataclass, field

import pytest

from eval.metrics import percentile
from index.build import build_index
from rag.settings import Settings
from tests.ui.serving import ROOT, Server, ask, upload

pytestmark = pytest.mark.slow

CLIENTS = 20
LOAD_SECONDS = 40.0  # the loaded phase; each client stops at this deadline
MAX_REQUESTS = 12  # per client: a bound on the run, whatever the speed of the machine
THINK = (5.0, 15.0)  # seconds a person reads an answer and types the next question
UPLOAD_AT = 3.0  # seconds into the loaded phase

THINGS = [
    ("lighthouse", "rebuilt"), ("observatory", "opened"), ("ferry terminal", "renovated"),
    ("library", "founded"), ("dam", "completed"), ("bell tower", "restored"),
    ("swimming baths", "closed"), ("tram depot", "electrified"), ("paper mill", "sold"),
    ("botanic garden", "extended"), ("opera house", "reopened"), ("salt works", "abandoned"),
    ("windmill", "moved"), ("fish market", "roofed"), ("railway viaduct", "widened"),
    ("brewery", "nationalised"), ("chess club", "registered"), ("ice rink", "built"),
    ("printing press", "installed"), ("toll bridge", "freed"),
]
SYLLABLES = "bra cor dun esk fal gor hav isk jor kel lun mor nev orr pel quil rav sol tor ulv".split()


@dataclass(frozen=True)
class Fact:
    source: str
    question: str
    needle: str
    text: str


def _facts(seed: int = 11) -> list[Fact]:
    r = random.Random(seed)
    out = []
    years = r.sample(range(1850, 2020), CLIENTS)
    for i, ((thing, verb), year) in enumerate(zip(THINGS, years, strict=True)):
        name = (r.choice(SYLLABLES) + r.choice(SYLLABLES)).capitalize()
        town = (r.choice(SYLLABLES) + r.choice(SYLLABLES) + "by").capitalize()
        text = (
            f"{name} {thing} notes\n\n"
            f"The {name} {thing} in {town} was {verb} in {year}. "
            f"Its trust counts {r.randint(20, 900)} members and meets every {r.choice(['spring', 'autumn'])}.\n\n"
            f"Visitors reach {town} by the number {r.randint(2, 99)} bus from the coast.\n"
        )
        out.append(Fact(f"load/{i:02d}-{name.lower()}.txt", f"When was the {name} {thing} {verb}?", str(year), text))
    return out


def _upload_text(kib: int = 96) -> str:
    """A long report: enough sentences that indexing it takes a while, and one findable fact."""
    r = random.Random(5)
    words = "council harbour budget survey river school road tender contract repair study".split()
    paras = ["Brimwater district report\n", "The Brimwater sluice gate was replaced in 1977."]
    while sum(len(p) for p in paras) < kib * 1024:
        paras.append(" ".join(
            f"Item {r.randint(1, 999)} on the {r.choice(words)} {r.choice(words)} was discussed "
            f"for {r.randint(2, 90)} minutes." for _ in range(6)
        ))
    return "\n\n".join(paras) + "\n"


@dataclass
class Call:
    client: int
    start: float
    end: float
    ok: bool
    sources: tuple[str, ...] = ()
    problem: str = ""

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Upload:
    start: float = 0.0
    end: float = 0.0
    status: str = ""
    error: str = ""
    progress: list[str] = field(default_factory=list)


def _pct(xs: list[float], p: float) -> float:
    """The project's one percentile (``p`` in 0..100), for a list known not to be empty."""
    value = percentile(xs, p)
    assert value is not None
    return value


def _check(fact: Fact, got: dict, allowed: set[str]) -> str:  # type: ignore[type-arg]
    """Why an answer is not this question's own answer, or "" when it is."""
    cited = [c["source"] for c in got["citations"]]
    if got["question"] != fact.question:
        return f"answer to another question: {got['question']!r}"
    if got["abstained"] or fact.source not in cited or fact.needle not in got["answer"]:
        return f"not its answer: {got['answer'][:120]!r} from {cited}"
    if not set(cited) <= allowed:
        return f"sources {sorted(set(cited) - allowed)} it never cited when asked alone"
    return ""


def test_twenty_clients_while_an_upload_is_indexed(built, embedder, tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built.corpus_dir, corpus)
    shutil.copytree(built.index_dir, index_dir)
    facts = _facts()
    for f in facts:
        (corpus / f.source).parent.mkdir(exist_ok=True)
        (corpus / f.source).write_text(f.text, encoding="utf-8")
    settings = Settings.from_env({}, index_dir=index_dir, corpus_dir=corpus)
    assert len(build_index(settings, embedder=embedder).added) == CLIENTS
    up = tmp_path / "brimwater-report.txt"
    up.write_text(_upload_text(), encoding="utf-8")

    server = Server(index_dir, corpus)
    server.start()
    try:
        with server.client() as http:
            ask(http, "Who rejected the 30-day ceasefire proposal?")  # loads the model
            # unloaded: one client, each question twice
            unloaded: list[float] = []
            baseline: dict[str, set[str]] = {}
            for _ in range(2):
                for f in facts:
                    t = time.perf_counter()
                    got = ask(http, f.question)
                    unloaded.append(time.perf_counter() - t)
                    baseline.setdefault(f.question, set()).update(c["source"] for c in got["citations"])
                    assert not _check(f, got, baseline[f.question]), _check(f, got, baseline[f.question])

        calls: list[Call] = []
        lock = threading.Lock()
        job = Upload()
        t0 = time.perf_counter()
        deadline = t0 + LOAD_SECONDS
        upload_name = up.name

        def client(i: int) -> None:
            f = facts[i]
            r = random.Random(100 + i)
            allowed = baseline[f.question] | {upload_name}
            with server.client() as http:
                time.sleep(r.uniform(0, THINK[0]))  # people do not all start in the same second
                for _ in range(MAX_REQUESTS):
                    if time.perf_counter() >= deadline:
                        break
                    start = time.perf_counter()
                    try:
                        got = ask(http, f.question)
                        problem = _check(f, got, allowed)
                        sources = tuple(c["source"] for c in got["citations"])
                    except Exception as e:  # noqa: BLE001 - every failure is recorded and asserted on
                        problem, sources = f"{type(e).__name__}: {e}", ()
                    with lock:
                        calls.append(Call(i, start, time.perf_counter(), not problem, sources, problem))
                    time.sleep(min(r.uniform(*THINK), max(0.0, deadline - time.perf_counter())))

        def uploader() -> None:
            time.sleep(UPLOAD_AT)
            job.start = time.perf_counter()
            try:
                with server.client(timeout=300) as http:
                    job.status = upload(
                        http, up,
                        on_message=lambda m: job.progress.extend(
                            d.get("desc") or "" for d in m.get("progress_data") or []
                        ),
                    )
            except Exception as e:  # noqa: BLE001
                job.error = f"{type(e).__name__}: {e}"
            job.end = time.perf_counter()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        threads.append(threading.Thread(target=uploader))
        for th in threads:
            th.start()
        for th in threads:
            th.join(LOAD_SECONDS + 300)
        assert not any(th.is_alive() for th in threads), "a client never finished"
        load_end = time.perf_counter()

        # a burst: every client asks at the same instant, once (recorded, not asserted)
        burst: list[float] = []
        gate = threading.Barrier(CLIENTS)

        def burst_client(i: int) -> None:
            with server.client() as http:
                gate.wait()
                t = time.perf_counter()
                got = ask(http, facts[i].question)
                with lock:
                    burst.append(time.perf_counter() - t)
                assert got["question"] == facts[i].question

        bthreads = [threading.Thread(target=burst_client, args=(i,)) for i in range(CLIENTS)]
        for th in bthreads:
            th.start()
        for th in bthreads:
            th.join(300)

        with server.client() as http:
            after = ask(http, "When was the Brimwater sluice gate replaced?")
    finally:
        server.stop()

    failed = [c for c in calls if not c.ok]
    latencies = [c.seconds for c in calls]
    during = [c.seconds for c in calls if c.end > job.start and c.start < job.end]
    figures = {
        "clients": CLIENTS,
        "think_seconds": list(THINK),
        "load_seconds": round(load_end - t0, 1),
        "requests_loaded": len(calls),
        "failed": len(failed),
        "unloaded": {"requests": len(unloaded), "p50": round(_pct(unloaded, 50), 3),
                     "p95": round(_pct(unloaded, 95), 3)},
        "loaded": {"p50": round(_pct(latencies, 50), 3), "p95": round(_pct(latencies, 95), 3),
                   "max": round(max(latencies), 3)},
        "during_upload": {"requests": len(during),
                          "p95": round(_pct(during, 95), 3) if during else None},
        "upload": {"seconds": round(job.end - job.start, 1), "status": job.status[:120],
                   "error": job.error},
        "burst_all_at_once": {"requests": len(burst), "p50": round(_pct(burst, 50), 3),
                              "max": round(max(burst), 3)} if burst else None,
        "p95_ratio": round(_pct(latencies, 95) / _pct(unloaded, 95), 2),
    }
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(json.dumps(figures, indent=1))

    assert not failed, [f"client {c.client}: {c.problem}" for c in failed[:5]]
    assert len({c.client for c in calls}) == CLIENTS and len(calls) >= 2 * CLIENTS
    assert not job.error and job.status.startswith("Added 1 file"), (job.error, job.status)
    assert any(p.startswith("indexing") for p in job.progress)
    # the upload was indexed while the clients were asking, not before or after (about 2
    # questions a second arrive; the upload takes several seconds on any machine)
    assert t0 < job.start and job.end < load_end and len(during) >= CLIENTS // 4, figures
    assert len(burst) == CLIENTS
    assert not after["abstained"] and after["citations"][0]["source"] == upload_name
    assert figures["p95_ratio"] <= 5.0, figures
