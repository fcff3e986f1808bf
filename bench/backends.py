"""Training and inference throughput of the same model and batch on each Keras backend.

python -m bench.backends  ->  bench/results/backends.json and .md
Each backend runs in its own process (KERAS_BACKEND is read once, at import).
"""

import json
import os
import subprocess
import sys

from bench.common import write_results

BACKENDS = ("tensorflow", "jax")
MEASURE = "import json; from bench.digits import measure; print(json.dumps([measure(v) for v in ('lenet5', 'cnn')]))"


def measure_backend(backend: str) -> list[dict]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    output = subprocess.run([sys.executable, "-c", MEASURE], env=env, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    rows = [{"backend": backend, **row} for backend in BACKENDS for row in measure_backend(backend)]
    print(write_results("backends", rows, notes="digits models, batch 128 (training) and 256 (inference)").read_text())
