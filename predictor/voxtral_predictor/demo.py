"""`make demo`: serve Voxtral on 127.0.0.1, send it one transcription and one chat with
audio, print the answers and what to try next, and keep serving until Ctrl-C.

Without --model it generates the tiny random-weight model: its answers are meaningless
text (the serving stack is real; the weights are not)."""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .audio import tone, wav_bytes
from .tiny_model import write_checkpoint

CACHE = Path(".cache")


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the predictor exited with code {proc.returncode}; see above")
        try:
            if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"the predictor was not ready after {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="voxtral-demo", description=__doc__)
    parser.add_argument("--model", help="Voxtral checkpoint (default: the tiny model)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=8081)
    args = parser.parse_args()

    tiny = args.model is None
    model = args.model or str(write_checkpoint(CACHE / "tiny-voxtral"))
    env = os.environ | {"VLLM_CACHE_ROOT": str((CACHE / "vllm").resolve())}
    cmd = [
        sys.executable, "-m", "voxtral_predictor", "--model", model, "--host", "127.0.0.1",
        "--http-port", str(args.port), "--grpc-port", str(args.grpc_port),
    ]  # fmt: skip
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(base, proc, timeout=120 if tiny else 1800)
        clip = CACHE / "demo-tone.wav"
        clip.write_bytes(wav_bytes(tone(3.0)))
        limit = {"max_completion_tokens": "32"} if tiny else {}
        with clip.open("rb") as f:
            r = httpx.post(
                f"{base}/v1/audio/transcriptions",
                files={"file": (clip.name, f, "audio/wav")},
                data={"model": "voxtral", **limit},
                timeout=600,
            )
        r.raise_for_status()
        print("\ntranscription:", repr(r.json()["text"]))
        audio = base64.b64encode(clip.read_bytes()).decode()
        chat = {
            "model": "voxtral",
            "messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}},
                {"type": "text", "text": "What do you hear?"},
            ]}],
            **({"max_tokens": 32} if tiny else {}),
        }  # fmt: skip
        r = httpx.post(f"{base}/v1/chat/completions", json=chat, timeout=600)
        r.raise_for_status()
        print("chat:", repr(r.json()["choices"][0]["message"]["content"]))
        if tiny:
            print("(tiny random-weight model: the text is meaningless by design)")
        extra = " -F max_completion_tokens=32" if tiny else ""
        print(
            f"""
Serving Voxtral at {base} (gRPC v2 on 127.0.0.1:{args.grpc_port}). Try:
  curl {base}/v1/audio/transcriptions -F file=@{clip} -F model=voxtral{extra}
  curl {base}/v1/audio/translations -F file=@{clip} -F model=voxtral{extra}
  curl {base}/v1/models
  curl {base}/v2/health/ready
  curl {base}/metrics
OpenAI SDK: OpenAI(base_url="{base}/v1", api_key="unused")
Ctrl-C stops the server.""",
            flush=True,
        )
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
