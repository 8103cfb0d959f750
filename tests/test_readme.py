"""The README's Python example runs as written."""

import re

from tests.helpers import ROOT, TINY, invoke


def readme_block(after: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(after):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_api_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = invoke("train", "-c", ROOT / "configs" / "quick.yaml", *TINY, "viz.enabled=false")
    assert result.exit_code == 0, result.output
    namespace: dict = {}
    exec(compile(readme_block("## Use what you trained"), "README.md", "exec"), namespace)
    assert namespace["clean"].shape == (8, 28, 28) and str(namespace["clean"].dtype) == "float32"
    assert "mnistmax.Model unet_dae" in capsys.readouterr().out
