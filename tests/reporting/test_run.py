"""The runner refuses bad input up front: one line naming the culprit, within seconds,
before anything executes (issue 14, point 7). Uses the fixture chapters (never executed
here)."""

import time
from pathlib import Path

import pytest

from lib.reporting.results import chapter_parameters, parameters_cell_problems
from lib.reporting.run import export_figures, main

BOOK = Path(__file__).parent / "fixtures" / "book"

TUPLE_CHAPTER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
# Tuple

```{code-cell} ipython3
:tags: [parameters]

seed = 0
n_features, n_hidden = 192, 64
```
"""


def refuse(argv, tmp_path):
    """Run ``lib.run`` on ``argv``; return its one-line refusal (and check it refused fast,
    before executing: no output folder)."""
    out = tmp_path / "out"
    start = time.perf_counter()
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--book", str(BOOK), "--out", str(out)])
    message = str(stop.value.code)
    assert time.perf_counter() - start < 10, "the refusal took too long"
    assert message.startswith("lib.run: ") and "\n" not in message, message
    assert not out.exists(), "something executed"
    return message


def test_unknown_parameter_is_refused_with_the_known_ones(tmp_path):
    message = refuse(["01", "-p", "stepz", "3"], tmp_path)
    assert "unknown parameter 'stepz'" in message and "did you mean 'steps'" in message
    assert "Known parameters: seed, steps, scale, densities, fail, device, results_dir" in message


def test_unknown_parameter_in_a_file_names_the_file(tmp_path):
    file = tmp_path / "p.yml"
    file.write_text("steps: 3\nn_hiden: 500\n")
    message = refuse(["01", "-f", str(file)], tmp_path)
    assert "'n_hiden'" in message and str(file) in message


@pytest.mark.parametrize("name, value, words", [
    ("seed", "abc", "must be an integer like its default 0, got 'abc'"),
    ("seed", "1.5", "must be an integer"),
    ("scale", "big", "must be a number like its default 1.5"),
    ("fail", "1", "must be true or false"),
    ("densities", "0.1", "must be a list"),
    ("densities", "[0.1, x]", "must be a list of numbers"),
    ("device", "3", "must be text"),
])
def test_a_value_of_the_wrong_type_names_the_parameter(tmp_path, name, value, words):
    message = refuse(["01", "-p", name, value], tmp_path)
    assert f"parameter {name!r}" in message and words in message


def test_a_value_that_is_not_yaml_names_the_parameter(tmp_path):
    message = refuse(["01", "-p", "densities", "[0.1,"], tmp_path)
    assert "parameter 'densities'" in message and "not valid YAML" in message


def test_missing_file(tmp_path):
    message = refuse(["01", "-f", str(tmp_path / "nope.yml")], tmp_path)
    assert "nope.yml' not found" in message


def test_malformed_file_says_where(tmp_path):
    file = tmp_path / "bad.yml"
    file.write_text("steps: 3\nscale: [1, 2\n")
    message = refuse(["01", "-f", str(file)], tmp_path)
    assert "bad.yml' is not valid YAML at line" in message


@pytest.mark.parametrize("text, words", [("- 1\n- 2\n", "got a list"),
                                         ("just text\n", "got a str")])
def test_a_file_that_is_not_a_mapping(tmp_path, text, words):
    file = tmp_path / "list.yml"
    file.write_text(text)
    assert words in refuse(["01", "-f", str(file)], tmp_path)


def test_a_binary_or_folder_file(tmp_path):
    file = tmp_path / "bin.yml"
    file.write_bytes(b"\xff\xfe\x00\x81")
    assert "not a text file" in refuse(["01", "-f", str(file)], tmp_path)
    assert "is not a file" in refuse(["01", "-f", str(tmp_path)], tmp_path)


def test_unknown_chapter(tmp_path):
    assert "no unique chapter matches '09'" in refuse(["09"], tmp_path)


def test_good_input_passes_the_check_without_executing(tmp_path, capsys):
    file = tmp_path / "ok.yml"
    file.write_text("steps: 5\nscale: 2\ndensities: [1, 0.5]\n")
    assert main(["01", "--book", str(BOOK), "-f", str(file), "-p", "seed", "3",
                 "-p", "device", "cpu", "--check"]) == 0
    assert "5 parameter(s) checked, nothing executed" in capsys.readouterr().out


def test_tuple_assignment_is_seen_and_flagged(tmp_path, capsys):
    """``a, b = 1, 2`` hides names from papermill: the runner still knows them (no false
    "unknown parameter"), warns, and the lint check (chapter_code --check) refuses it."""
    (tmp_path / "07_tuple.md").write_text(TUPLE_CHAPTER)
    assert chapter_parameters("07_tuple", tmp_path) == {"seed": 0, "n_features": 192,
                                                        "n_hidden": 64}
    assert main(["07", "--book", str(tmp_path), "-p", "n_hidden", "32", "--check"]) == 0
    assert "assigns more than one name" in capsys.readouterr().err
    problems = parameters_cell_problems("seed = 0\nn_features, n_hidden = 192, 64\n")
    assert len(problems) == 1 and problems[0].startswith("line 2:")
    from lib.reporting.chapter_code import main as chapter_code

    assert chapter_code(["--check", str(tmp_path / "07_tuple.md")]) == 1
    assert chapter_code(["--check", str(BOOK / "01_alpha.md")]) == 0


def test_export_figures_writes_pngs_and_an_index(tmp_path):
    import base64

    import nbformat

    png = base64.b64encode(
        base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
                         "YAAAAAYAAjCB0C8AAAAASUVORK5CYII=")).decode()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Section one"),
                nbformat.v4.new_code_cell("plot()", metadata={"tags": ["headline"]},
                                          outputs=[nbformat.v4.new_output(
                                              "display_data", data={"image/png": png})]),
                nbformat.v4.new_code_cell("claims.finish()", outputs=[nbformat.v4.new_output(
                    "display_data", data={"image/png": png},
                    metadata={"paper_run": "gpu-seed0"})])]  # another run's: not exported
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, str(path))
    figures = export_figures(path, tmp_path / "figures")
    assert figures == [{"file": "figures/cell001-0.png", "cell": 1, "headline": True,
                        "caption": "cell 1, Section one"}]
    assert (tmp_path / "figures" / "cell001-0.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "figures.json").exists()
