from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pytest

from embedproof.datasets.loading import load_dataset
from embedproof.judge.pool import Pooler, setups_from_recipes
from embedproof.judge.questions import Question

QUESTIONS = [Question("When was the iPhone released?"), Question("IP68 rating meaning"), Question("battery health")]


@pytest.fixture(scope="session")
def demo():
    return load_dataset("demo")


@pytest.fixture(scope="session")
def pooler(demo):
    """bm25 and hashing over the demo, pooled 3 deep (the demo encodes in well under a second)."""
    return Pooler(demo, setups_from_recipes(None, ["bm25", "hashing"]), depth=3)


class FakeChat:
    """An OpenAI-compatible chat endpoint on loopback that grades like a tiny judge: 3 when the passage holds
    `answer_word`, else 0; `fail_first` answers 503 to that many requests first (to see the client retry)."""

    def __init__(self, answer_word: str = "2007", fail_first: int = 0):
        self.answer_word, self.fail_first = answer_word, fail_first
        self.requests: list[dict] = []

    def grade(self, prompt: str) -> int:
        passage = prompt.split("\nPassage: ", 1)[1].split("\n\nSplit this problem", 1)[0]
        return 3 if self.answer_word in passage else 0

    @contextlib.contextmanager
    def serve(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.requests.append({"path": self.path, "body": body})
                if len(fake.requests) <= fake.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                content = f"M: 2, T: 2\n##final score: {fake.grade(body['messages'][0]['content'])}"
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/v1"
        finally:
            server.shutdown()
            server.server_close()
