"""Gateway benchmark: the real gateway on loopback in front of the fake upstream streaming 30 tokens/s.

    .venv/bin/python bench/bench_gateway.py                  # 1/4/16 streams, sample corpus
    .venv/bin/python bench/bench_gateway.py --streams 1,4 --rate 30 --rounds 2
    .venv/bin/python bench/bench_gateway.py --baseline     # also the earlier release rule, alternating

Figures: added latency per sentence in `verified` release (from the gateway receiving a sentence's
last token to releasing it; reported by the gateway as `held_ms` on each sentence) p50 / p95 at each
concurrency; time-to-first-token overhead of `immediate` release (gateway TTFT minus the upstream's
own, medians); the process's RSS (gateway, models and fake upstream share it); dropped or reordered
tokens (immediate: streamed text == upstream reply; verified: streamed text without markers and
footnotes == reply). Goals: p50 <= 60 ms at 1 stream, <= 250 ms at 4; 0 dropped or reordered.

`--baseline` runs each round twice, alternating: with the gateway's rule (a sentence is released once
its end is final, `pipeline.text.sentence_end_final`) and with the rule it replaced (once the next
sentence has a whole word), and prints both with their ratio.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.common import percentile  # noqa: E402
from pipeline.models.offline import stay_offline  # noqa: E402

REPLY = (
    "Here is a summary of the Northwind agreement. "
    "Customer shall pay each undisputed invoice within thirty (30) days of receipt. "
    "Customer may terminate the Agreement for convenience upon sixty (60) days' prior written notice. "
    "The recommended starting dose of ZENTRAVIL is 50 mg orally once daily. "
    "The agreement contains a two-year non-compete covenant binding the Customer. "
    "I hope this summary helps."
)
MARKER = re.compile(r" \[\d+[✗?!]\]")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set of this process in MB."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def stream(url: str, release: str) -> dict:
    """One streamed completion: its text, the verdicts' held_ms, first-content time, final object."""
    body = {
        "model": "fake-model",
        "stream": True,
        "messages": [{"role": "user", "content": "What does the Northwind agreement say?"}],
        "veracity": {"corpus": "sample", "release": release},
    }
    t0 = time.perf_counter()
    out = {"text": "", "held": [], "ttft": None, "final": None}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=300) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            content = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
            if content:
                out["ttft"] = out["ttft"] or time.perf_counter() - t0
                out["text"] += content
            v = chunk.get("veracity")
            if v and "summary" in v:
                out["final"] = v
            elif v:
                out["held"] += [s["held_ms"] for s in v["sentences"]]
    return out


def whole_word_sentences() -> type:
    """The earlier release rule, for --baseline: a sentence is handed out once the next sentence has a
    whole word (followed by a space or , ; :)."""
    from api.gateway.sentences import SentenceStream, Span
    from pipeline.text import split_sentences

    whole_word = re.compile(r"\s*\S+[\s,;:]")

    class WholeWordSentences(SentenceStream):
        def feed(self, delta: str) -> list[Span]:
            self.text += delta
            spans = [(s, e) for s, e in split_sentences(self.text) if s >= self._done]
            out: list[Span] = []
            for (s, e), (ns, _) in zip(spans, spans[1:], strict=False):
                if not whole_word.match(self.text, ns):
                    break
                out.append(self._take(s, e))
            self._open = spans[len(out) :]
            return out

    return WholeWordSentences


def tokens_waited(sentences: type, reply: str) -> list[int]:
    """Per sentence, how many upstream tokens after its last one arrive before the rule releases it
    (the end of the stream counts as one): the floor of held_ms, without any verification."""
    from api.gateway.fake_upstream import tokens

    stream, arrived, waited = sentences(), [], []
    for tok in tokens(reply):
        arrived.append(len(stream.text) + len(tok))
        for span in stream.feed(tok):
            waited.append(len(arrived) - 1 - next(i for i, n in enumerate(arrived) if n >= span.end))
    waited += [len(arrived) - next(i for i, n in enumerate(arrived) if n >= s.end) for s in stream.finish()]
    return waited


def intact(result: dict, release: str) -> bool:
    if release == "immediate":
        return result["text"] == REPLY
    return MARKER.sub("", result["text"].split("\n\nFlagged by Veracity:")[0]) == REPLY


def concurrent(url: str, n: int, release: str) -> list[dict]:
    results: list[dict] = [{}] * n

    def one(i: int) -> None:
        results[i] = stream(url, release)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="1,4,16")
    ap.add_argument("--rate", type=float, default=30.0, help="upstream tokens per second")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per concurrency level")
    ap.add_argument("--ttft-runs", type=int, default=10)
    ap.add_argument("--baseline", action="store_true", help="also time the earlier release rule")
    args = ap.parse_args()
    stay_offline()

    from api_support import ThreadedServer

    import api.gateway.stream as gateway_stream
    from api.app import create_app
    from api.config import ApiSettings
    from api.gateway.config import GatewayConfig
    from api.gateway.fake_upstream import fake_upstream
    from pipeline.settings import PROJECT_ROOT
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import corpus_config

    home = Path(tempfile.mkdtemp(prefix="veracity-bench-gateway-"))
    settings = ApiSettings(
        home=home, corpora_dir=PROJECT_ROOT / "corpora", auth_disabled=True, serve_corpora=["sample"]
    )
    index_corpus(corpus_config("sample", settings), settings)
    app, behaviour, _ = fake_upstream("fake", "fake-model")
    behaviour.reply, behaviour.tokens_per_s = REPLY, args.rate
    with ThreadedServer(app) as upstream:
        config = GatewayConfig(
            upstreams=[{"name": "fake", "base_url": f"{upstream.url}/v1", "models": ["fake-model"]}]
        )
        with ThreadedServer(create_app(settings, gateway=config)) as gateway:
            url = f"{gateway.url}/v1"
            stream(url, "verified")  # warm-up
            print(f"fake upstream: {args.rate:g} tokens/s, {len(REPLY.split())} words, 6 sentences")
            rules = {"final end": gateway_stream.SentenceStream}
            if args.baseline:
                rules["whole next word (before)"] = whole_word_sentences()
            for rule, sentences in rules.items():
                waited = tokens_waited(sentences, REPLY)
                print(
                    f"tokens waited after a sentence's last one, {rule}: {waited} "
                    f"(floor {1000 * statistics.median(waited) / args.rate:.0f} ms median at {args.rate:g} tokens/s)"
                )
            print("verified release, added latency per sentence (held_ms):")
            bad = 0
            for n in [int(x) for x in args.streams.split(",")]:
                held: dict[str, list[float]] = {rule: [] for rule in rules}
                total = 0
                for _ in range(args.rounds):
                    for rule, sentences in rules.items():  # alternating, so both see the same load
                        gateway_stream.SentenceStream = sentences
                        for r in concurrent(url, n, "verified"):
                            held[rule] += r["held"]
                            bad += not intact(r, "verified")
                            total += 1
                gateway_stream.SentenceStream = rules["final end"]
                for rule, values in held.items():
                    print(
                        f"  {n:>2} streams, {rule:<26}: p50 {percentile(values, 50):7.1f} ms  "
                        f"p95 {percentile(values, 95):7.1f} ms  ({len(values)} sentences)"
                    )
                if args.baseline:
                    new, old = (percentile(v, 50) for v in held.values())
                    print(
                        f"  {n:>2} streams: p50 ratio final end / before = {new / old:.2f} ({total} streams)"
                    )
            direct, via = [], []
            for _ in range(args.ttft_runs):
                direct.append(_upstream_ttft(f"{upstream.url}/v1"))
                r = stream(url, "immediate")
                via.append(r["ttft"])
                bad += not intact(r, "immediate")
            d, v = statistics.median(direct) * 1000, statistics.median(via) * 1000
            print(
                f"immediate release TTFT: upstream {d:.1f} ms, via gateway {v:.1f} ms, overhead {v - d:.1f} ms"
            )
            now, peak = rss_mb()
            print(f"RSS: {now:.0f} MB now, {peak:.0f} MB peak (gateway + models + fake upstream)")
            print(f"streams with dropped or reordered tokens: {bad}")
    return 0


def _upstream_ttft(url: str) -> float:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "Q?"}]}
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if '"content": "' in line and '"content": ""' not in line:
                return time.perf_counter() - t0
    raise RuntimeError("the upstream sent no token")


if __name__ == "__main__":
    raise SystemExit(main())
