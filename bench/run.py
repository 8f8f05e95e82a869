"""`rag bench`: indexing throughput against the model's own limit, question latency at scale,
memory and cold start, on a synthetic corpus the bench writes itself (nothing is downloaded).

>>> res = run_bench(BenchConfig(sizes=[1000], workdir=Path("/tmp/b")))   # doctest: +SKIP
>>> print(render(res))                                                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.synth import size_label, synth_corpus
from eval.dataset import DEFAULT_QA, load_qa
from eval.metrics import percentile
from index.service import STAGES
from rag.embed import Embedder, SpanVectors
from rag.errors import RagError, StoreUnavailableError
from rag.settings import Settings


# -- helpers: embedders that are not the model, a server --------------------------------
class RandomEmbedder:
    """Unit vectors drawn from a hash of each text. NOT a model: used only to fill a large
    index for the latency-at-scale part when real embedding would take too long, and said so."""

    dim = 384

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


class TimedEmbedder:
    """Wraps an embedder and adds up the time spent inside it and the texts it embedded."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.dim = inner, inner.dim
        self.seconds = 0.0
        self.count = 0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        t = time.perf_counter()
        vecs = self.inner.embed(texts)
        self.seconds += time.perf_counter() - t
        self.count += len(texts)
        return vecs

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> SpanVectors:
        inner = getattr(self.inner, "embed_spans", None)
        if inner is None:  # the random vectors: sentences are embedded on their own
            none: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
            return self.embed(texts), none, [list(n) for n in none]
        t = time.perf_counter()
        out = inner(texts, spans)
        self.seconds += time.perf_counter() - t
        self.count += len(texts)
        return out  # type: ignore[no-any-return]


class ReplayEmbedder:
    """Gives back vectors computed earlier in the same run (to fill the server's copy of an
    index without running the model twice); texts it has not seen go to ``fallback``."""

    def __init__(self, memo: dict[str, np.ndarray], fallback: Embedder) -> None:
        self.memo, self.fallback, self.dim = memo, fallback, fallback.dim
        self.missed = 0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        miss = [t for t in texts if t not in self.memo]
        if miss:
            self.missed += len(miss)
            self.memo.update(zip(miss, self.fallback.embed(miss), strict=True))
        return (
            np.stack([self.memo[t] for t in texts])
            if texts
            else np.zeros((0, self.dim), np.float32)
        )


def chroma_binary() -> str:
    exe = Path(sys.executable).parent / "chroma"
    found = str(exe) if exe.is_file() else shutil.which("chroma")
    if not found:
        raise RagError("the `chroma` command is missing: run `make setup` (it ships with chromadb)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChromaServer:
    """`chroma run` on 127.0.0.1 and a free port, with its data in ``path``; can be stopped
    and started again on the same port and folder.

    >>> srv = ChromaServer(Path("/tmp/chroma-data"), Path("/tmp/chroma.log"))  # doctest: +SKIP
    >>> srv.start(); srv.url                                                 # doctest: +SKIP
    'http://127.0.0.1:40123'
    """

    def __init__(self, path: Path, log: Path, port: int | None = None) -> None:
        self.path, self.log = path, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    chroma_binary(),
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-1500:]
                raise StoreUnavailableError(f"`chroma run` did not start on {self.url}: {tail}")
            time.sleep(0.1)

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident memory so far (Linux), while it runs."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- the two worker processes: each measures in a fresh process, so memory is its own -------
def _stored_vectors(store: Any) -> dict[str, np.ndarray]:
    """What the pipeline embedded -> the vector stored for it, for every chunk and sentence
    (to fill a server copy without running the model again)."""
    from rag.embed import sentence_embedding_text

    titles = {d.source: d.title for d in store.documents()}
    out: dict[str, np.ndarray] = store.chunk_vectors()
    for s in store.all_sentences().values():
        out[sentence_embedding_text(titles.get(s.source, ""), s.text)] = s.vector
    return out


def index_worker(
    corpus: Path, index_dir: Path, collection: str, fake: bool, server_url: str | None
) -> dict[str, Any]:
    """Index ``corpus`` (first run, then again unchanged), time raw encode on the same chunk
    texts, and optionally fill a server collection with the vectors just computed."""
    from index.build import build_index, open_store
    from rag.chunk import count_tokens
    from rag.embed import MiniLMEmbedder, model_dir

    settings = Settings.from_env(index_dir=index_dir, corpus_dir=corpus, collection=collection)
    settings = settings.with_(chroma_url=None)
    model = MiniLMEmbedder(settings.device, settings.batch_size)
    inner: Embedder = RandomEmbedder() if fake else model
    if not fake:
        # loaded, and one full-width pass run (torch's first pass on two threads costs about
        # a second more than later ones), so neither the pipeline nor the raw encode pays it
        model.embed(["load the model and run it once before the clock starts " * 20] * 16)
    timed = TimedEmbedder(inner)
    t = time.perf_counter()
    first = build_index(settings, embedder=timed)
    pipeline = time.perf_counter() - t
    out: dict[str, Any] = {
        "fake_vectors": fake,
        "docs": len(first.added),
        "chunks": first.chunks,
        "sentences": first.sentences,
        "pipeline_s": pipeline,
        "model_s": timed.seconds,
        "embedded_texts": timed.count,
        "index_peak_rss_mb": _peak_rss_mb(),
        "batch_size": settings.batch_size,
        "device": settings.device,
    }
    store = open_store(settings)
    _, chunk_texts = store.all_chunk_texts()
    mdir = model_dir()
    out["chunk_tokens"] = sum(count_tokens(x, mdir) for x in chunk_texts)
    if not fake:
        t = time.perf_counter()
        model.model.encode(
            chunk_texts,
            batch_size=settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out["raw_chunks_s"] = time.perf_counter() - t
    t = time.perf_counter()
    again = build_index(settings, embedder=timed)
    out["reindex_s"] = time.perf_counter() - t
    out["reindex_embedded"] = again.chunks + again.sentences
    if server_url:
        replay = ReplayEmbedder(_stored_vectors(store), inner)
        remote = settings.with_(chroma_url=server_url, index_dir=index_dir / "server-client")
        t = time.perf_counter()
        build_index(remote, embedder=replay)
        out["server_fill_s"] = time.perf_counter() - t
        out["server_fill_model_texts"] = replay.missed  # should be 0: every vector reused
    return out


def serve_worker(
    index_dir: Path,
    collection: str,
    server_url: str | None,
    questions: list[str],
    warm: int = 5,
    readers: bool = False,
) -> dict[str, Any]:
    """Open the index as `rag serve` would, then ask ``questions`` one by one (warm).

    With ``readers``, each question is also embedded alone (the raw query embedding, the budget's
    yardstick) and asked of the learned reader, interleaved, so the ratios share one run."""
    from index.service import open_index

    settings = Settings.from_env(index_dir=index_dir, collection=collection)
    settings = settings.with_(chroma_url=server_url)
    t = time.perf_counter()
    idx = open_index(settings)
    for q in questions[:warm]:
        idx.ask(q)
    ready = time.perf_counter() - t
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    abstained = 0
    for q in questions:
        a = idx.ask(q, trace=True)
        abstained += a.abstained
        assert a.trace is not None
        for k in STAGES:
            stages[k].append(a.trace.seconds[k] * 1000)
    compare: dict[str, Any] = {}
    if readers:
        for q in questions[:warm]:
            idx.ask(q, reader="learned")
        raw: list[float] = []
        took: dict[str, list[float]] = {"learned": [], "rules": []}
        for q in questions:
            t = time.perf_counter()
            idx.embedder.embed([q])
            raw.append((time.perf_counter() - t) * 1000)
            for name, times in took.items():
                a = idx.ask(q, reader=name, trace=True)
                assert a.trace is not None
                times.append(a.trace.seconds["total"] * 1000)
        compare = {
            "raw_embed_ms": percentile(raw, 50),
            "learned_ms": percentile(took["learned"], 50),
            "rules_ms": percentile(took["rules"], 50),
        }
    return {
        "questions": len(questions),
        "abstained": abstained,
        "ready_s": ready,
        **({"readers": compare} if compare else {}),
        "serve_peak_rss_mb": _peak_rss_mb(),
        "chunks": sum(d.chunks for d in idx.documents()),
        "ms": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in stages.items()},
    }




def _run_worker(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a worker as ``python -m bench.run``; its last stdout line is its JSON result."""
    cmd = [sys.executable, "-m", "bench.run", kind, json.dumps(args, default=str)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    if proc.returncode != 0:
        raise RagError(f"the bench's {kind} step failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def cold_start(index_dir: Path, question: str, runs: int = 3) -> dict[str, Any]:
    """Wall time of `rag ask` from process start to printed answer, and of `rag --help`."""
    rag = Path(sys.executable).parent / "rag"
    base = [str(rag)] if rag.is_file() else [sys.executable, "-m", "ui.cli"]
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_CHROMA_URL", "RAG_COLLECTION")}
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(
            [*base, "--index-dir", str(index_dir), "ask", question],
            capture_output=True,
            text=True,
            env=env,
        )
        times.append(time.perf_counter() - t)
        if p.returncode != 0 or "[1]" not in p.stdout and "do not answer" not in p.stdout:
            raise RagError(f"`rag ask` failed during the bench: {p.stderr[-1000:]}")
    t = time.perf_counter()
    subprocess.run([*base, "--help"], capture_output=True)
    out: dict[str, Any] = {"ask_s": times, "help_s": time.perf_counter() - t}
    out["serve_s"] = _web_ready(base, index_dir, env)
    return out


def _web_ready(base: list[str], index_dir: Path, env: dict[str, str]) -> float | None:
    """Seconds from starting `rag serve` (loopback, free port) to its page answering 200."""
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen(
        [*base, "--index-dir", str(index_dir), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    try:
        while time.perf_counter() - t < 180 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - t
            except OSError:
                time.sleep(0.1)
        return None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the whole run ----------------------------------------------------------------------------
@dataclass
class BenchConfig:
    sizes: list[int]
    workdir: Path
    questions: int = 100
    server: bool = True
    fake_from: int = 50_000  # sizes at or above this fill the index with RandomEmbedder vectors
    seed: int = 0
    reuse: bool = False  # keep indexes (and their indexing figures) from an earlier run here


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything `rag bench` measures, as a dict (also written to ``workdir/bench.json``)."""
    import platform

    from rag.settings import BUNDLED_CORPUS

    cfg.workdir.mkdir(parents=True, exist_ok=True)
    earlier: dict[str, Any] = {}
    if cfg.reuse and (cfg.workdir / "bench.json").is_file():
        earlier = json.loads((cfg.workdir / "bench.json").read_text(encoding="utf-8"))
    res: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": os.getloadavg()[0],
        },
        "sizes": {},
        "bundled": {},
    }
    srv = None
    if cfg.server:
        srv = ChromaServer(cfg.workdir / "server-data", cfg.workdir / "server.log")
        srv.start()
        res["server_url"] = srv.url

    def index_step(
        old: dict[str, Any] | None, corpus: Path, idir: Path, collection: str, fake: bool
    ) -> dict[str, Any]:
        if (
            old
            and old.get("index")
            and (idir / "manifest.json").is_file()
            and (not srv or (idir / "server-client").is_dir())
        ):
            return {**old["index"], "reused": True}
        shutil.rmtree(idir, ignore_errors=True)
        return _run_worker(
            "index",
            {
                "corpus": corpus,
                "index_dir": idir,
                "collection": collection,
                "fake": fake,
                "server_url": srv.url if srv else None,
            },
        )

    def serve_steps(
        entry: dict[str, Any],
        name: str,
        idir: Path,
        collection: str,
        qs: list[str],
        readers: bool = False,
    ) -> None:
        for mode, url in (("embedded", None), ("server", srv.url if srv else None)):
            if mode == "server" and not url:
                continue
            log(f"{name}: {len(qs)} questions, {mode}")
            entry[mode] = _run_worker(
                "serve",
                {
                    "index_dir": idir if url is None else idir / "server-client",
                    "collection": collection,
                    "server_url": url,
                    "questions": qs,
                    "readers": readers and url is None,
                },
            )

    try:
        # the bundled corpus: the latency target, and the index the cold start uses
        bdir = cfg.workdir / "bundled-index"
        qa = [item.question for item in load_qa(DEFAULT_QA)]
        log("bundled corpus: indexing")
        res["bundled"]["index"] = index_step(
            earlier.get("bundled"), BUNDLED_CORPUS, bdir, "rag", False
        )
        serve_steps(res["bundled"], "bundled corpus", bdir, "rag", qa, readers=True)
        log("cold start of `rag ask` and `rag serve`")
        res["cold_start"] = cold_start(bdir, qa[0])
        for n in cfg.sizes:
            label = size_label(n)
            fake = n >= cfg.fake_from
            corpus = cfg.workdir / f"corpus-{label}"
            idir = cfg.workdir / f"index-{label}"
            old = earlier.get("sizes", {}).get(label)
            if not old:
                shutil.rmtree(corpus, ignore_errors=True)
            info = synth_corpus(corpus, n, seed=cfg.seed)  # the same seed writes the same files
            r = random.Random(cfg.seed + 1)
            qs = [
                r.choice([d.question, *d.others])
                for d in r.sample(info.docs, min(cfg.questions, len(info.docs)))
            ]
            entry: dict[str, Any] = {"docs": len(info.docs), "words": info.words}
            log(
                f"{label}: indexing {len(info.docs)} documents"
                + (" (random vectors: latency only)" if fake else "")
            )
            entry["index"] = index_step(old, corpus, idir, f"bench{label}", fake)
            serve_steps(entry, label, idir, f"bench{label}", qs)
            res["sizes"][label] = entry
            # partial results survive a failure in a later, larger size
            (cfg.workdir / "bench.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
        if srv:
            res["server_peak_rss_mb"] = srv.peak_rss_mb()
    finally:
        if srv:
            srv.stop()
    res["machine"]["load_after"] = os.getloadavg()[0]
    (cfg.workdir / "bench.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    return res


def render(res: dict[str, Any]) -> str:
    """The figures as Markdown tables (what docs/scale.md carries)."""
    m = res["machine"]
    out = [
        f"Machine: {m['cpus']} CPUs, Python {m['python']}; load average {m['load_before']:.1f} "
        f"before the run, {m.get('load_after', 0):.1f} after (other processes share these cores).",
        "",
        "Indexing, first run (model loaded before the clock starts; tokens are the model's word "
        "pieces; raw = SentenceTransformer.encode on the same chunk texts, same process, same "
        "batch size)",
        "",
        "| corpus | docs | chunks | sentences | chunk tokens | texts embedded | pipeline s | in model s "
        "| pipeline chunks/s | pipeline tokens/s | raw chunks/s | raw tokens/s | pipeline / raw |",
        "|" + "---|" * 13,
    ]
    rows = [("bundled", res["bundled"])] + list(res["sizes"].items())
    for name, e in rows:
        ix = e.get("index")
        if not ix:
            continue
        p = ix["pipeline_s"]
        name = name + (" (earlier run)" if ix.get("reused") else "")
        head = (
            f"| {name} | {ix['docs']} | {ix['chunks']} | {ix['sentences']} | "
            f"{ix['chunk_tokens']:,} | {ix['embedded_texts']:,} | {p:.1f} |"
        )
        if ix["fake_vectors"]:
            out.append(
                head + " random vectors, no model: not a throughput figure | - | - | - | - | - |"
            )
            continue
        raw = ix["raw_chunks_s"]
        out.append(
            head + f" {ix['model_s']:.1f} | {ix['chunks'] / p:.1f} | {ix['chunk_tokens'] / p:,.0f} "
            f"| {ix['chunks'] / raw:.1f} | {ix['chunk_tokens'] / raw:,.0f} | {p / raw:.2f}x |"
        )
    out += [
        "",
        "Re-indexing and memory",
        "",
        "| corpus | first run s | unchanged re-run s | re-run / first | indexing peak RSS MB "
        "| server copy filled in s |",
        "|" + "---|" * 6,
    ]
    for name, e in rows:
        ix = e.get("index")
        if not ix:
            continue
        fill = f"{ix['server_fill_s']:.1f}" if "server_fill_s" in ix else "-"
        fake = " (random vectors)" if ix["fake_vectors"] else ""
        fake += " (earlier run)" if ix.get("reused") else ""
        out.append(
            f"| {name}{fake} | {ix['pipeline_s']:.1f} | {ix['reindex_s']:.2f} | "
            f"{100 * ix['reindex_s'] / ix['pipeline_s']:.1f}% | {ix['index_peak_rss_mb']:.0f} "
            f"| {fill} |"
        )
    out += [
        "",
        "Warm question latency, ms, p50 / p95 (fetch = reading the passages only BM25 found, "
        "and unpacking the passages' sentence vectors)",
        "",
        "| corpus | chunks | mode | questions | embed | dense | lexical | fetch | read | total "
        "| serving peak RSS MB |",
        "|" + "---|" * 11,
    ]
    for name, e in rows:
        for mode in ("embedded", "server"):
            s = e.get(mode)
            if not s:
                continue
            cells = " | ".join(f"{s['ms'][k]['p50']:.1f} / {s['ms'][k]['p95']:.1f}" for k in STAGES)
            fake = " (random vectors)" if e.get("index", {}).get("fake_vectors") else ""
            out.append(
                f"| {name}{fake} | {s['chunks']} | {mode} | {s['questions']} | {cells} | "
                f"{s['serve_peak_rss_mb']:.0f} |"
            )
    rd = res.get("bundled", {}).get("embedded", {}).get("readers")
    if rd:
        out += [
            "",
            "Readers on the bundled corpus, warm `Index.ask` p50 against the raw query embedding "
            "in the same process:",
            "",
            "| reader | ask p50 | raw query embedding p50 | ask / embedding |",
            "|---|---:|---:|---:|",
        ]
        for name in ("rules", "learned"):
            ms = rd[f"{name}_ms"]
            out.append(
                f"| {name} | {ms:.1f} ms | {rd['raw_embed_ms']:.1f} ms | "
                f"{ms / rd['raw_embed_ms']:.1f}x |"
            )
    cs = res.get("cold_start")
    if cs:
        out += [
            "",
            "`rag ask` cold start, process start to printed answer (bundled index): "
            + ", ".join(f"{x:.2f} s" for x in cs["ask_s"])
            + f"; `rag --help`: {cs['help_s']:.2f} s"
            + (f"; `rag serve` to page ready: {cs['serve_s']:.1f} s" if cs.get("serve_s") else ""),
        ]
    if res.get("server_peak_rss_mb"):
        out.append(
            f"`chroma run` peak RSS with every bench collection loaded: "
            f"{res['server_peak_rss_mb']:.0f} MB"
        )
    return "\n".join(out) + "\n"


def _worker_main(argv: list[str]) -> None:
    kind, raw = argv[0], json.loads(argv[1])
    if kind == "index":
        res = index_worker(
            Path(raw["corpus"]),
            Path(raw["index_dir"]),
            raw["collection"],
            bool(raw["fake"]),
            raw.get("server_url"),
        )
    elif kind == "serve":
        res = serve_worker(
            Path(raw["index_dir"]),
            raw["collection"],
            raw.get("server_url"),
            list(raw["questions"]),
            readers=bool(raw.get("readers")),
        )
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    print(json.dumps(res))


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
