"""Foundation acceptance 3: the default model (SmolLM2-135M-Instruct, Q4_1 GGUF fetched by
scripts/fetch-model.sh) answers coherently."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_model():
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-model.sh")], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), path
    return path


def test_capital_of_france(run_loom):
    r = run_loom(["generate", "-m", default_model(), "--prompt", "The capital of France is", "-n", "16",
                  "--temperature", "0"], timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Paris" in r.stdout, r.stdout
    assert "tok/s" in r.stderr
