"""What serves the seeds' Chinese readers: notebooks/zh/ (stored clean, framed, run in a real kernel like the
English ones, the same code as their English twin), README.zh-CN.md (the README's commands, links that resolve, every seed mapped), the glossary, and
viz.use_cjk_font (matplotlib draws Chinese where a CJK font is installed)."""
import io
import os
import re
import tokenize
import warnings

import matplotlib
import nbformat
import pytest
import test_notebooks
from test_notebooks import ROOT, _errors, _text

from nbtrain import viz
from tools import docs_notebooks

kernel_name = test_notebooks.kernel_name   # the fixture: this venv's kernel, the checkout first on its path
ZH = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))
CJK = re.compile("[\u4e00-\u9fff]")
README_ZH = ROOT / "README.zh-CN.md"


def _bash_dev_commands(text: str) -> list[str]:
    """The `bash dev.sh ...` lines inside the fenced code blocks of a markdown text, in order."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("bash dev.sh")]


def _logical_lines(source: str, zh: bool = False) -> list[list[tuple[int, str]]]:
    """The code of a cell as logical lines of (token type, text): comments, blank lines and IPython magics (`%...`,
    `!...`) left out. With ``zh``, what only a Chinese notebook adds is left out too: `use_cjk_font` (imported,
    called) and the lines that use the `font` it returns (a Chinese title where a CJK font is installed)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    logical, current = [], []
    for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
            continue
        current.append((tok.type, tok.string))
        if tok.type == tokenize.NEWLINE:
            logical.append(current)
            current = []
    if current:
        logical.append(current)
    if zh:
        for line in logical:   # `from nbtrain.viz import a, use_cjk_font` -> `... import a`
            while (tokenize.OP, ",") in line and (tokenize.NAME, "use_cjk_font") in line[line.index((tokenize.OP, ",")) + 1:]:
                i = line.index((tokenize.NAME, "use_cjk_font"))
                if line[i - 1] != (tokenize.OP, ","):
                    break
                del line[i - 1:i + 1]
        logical = [line for line in logical
                   if not {(tokenize.NAME, "use_cjk_font"), (tokenize.NAME, "font")} & set(line)]
    return logical


def _same_token(en: tuple[int, str], zh: tuple[int, str]) -> bool:
    """Equal, or a string the Chinese notebook translated (UI text: it holds Chinese, and an f-string keeps the
    same {expressions})."""
    if en == zh:
        return True
    braces = re.compile(r"\{[^{}]*\}")
    return en[0] == zh[0] == tokenize.STRING and bool(CJK.search(zh[1])) and braces.findall(en[1]) == braces.findall(zh[1])


def code_drift(english: str, chinese: str) -> str | None:
    """None when the Chinese cell's code is the English cell's (comments and translated strings aside), else the
    first line that differs."""
    en, zh = _logical_lines(english), _logical_lines(chinese, zh=True)
    for i in range(max(len(en), len(zh))):
        a, b = (en[i] if i < len(en) else []), (zh[i] if i < len(zh) else [])
        if len(a) != len(b) or not all(map(_same_token, a, b)):
            return f"English: {' '.join(t for _, t in a).strip()!r}\n  Chinese: {' '.join(t for _, t in b).strip()!r}"
    return None


def test_code_drift_ignores_comments_translations_and_the_font_and_nothing_else():
    english = 'x = f(1, "loss")   # the loss\nprint(f"epoch {e}: {v:.3f}")\n%load_ext tensorboard\n'
    assert code_drift(english, 'x = f(1, "损失")   # 损失\nprint(f"第 {e} 轮：{v:.3f}")\n%load_ext tensorboard\n') is None
    font = "from nbtrain.viz import grid, use_cjk_font\nfont = use_cjk_font(lang='zh')\nax.set_title('中文' if font else 'en')\n"
    assert code_drift("from nbtrain.viz import grid\n", font) is None
    assert "f ( 2" in code_drift(english, english.replace("f(1", "f(2"))             # a changed number
    assert code_drift(english, english.replace('"loss"', '"val_loss"'))               # an English string changed
    assert code_drift(english, english.replace("{e}", "{epoch}").replace("loss", "损失"))   # an f-string's expression
    assert code_drift(english, english + "y = 2\n")                                      # a line more


def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", ZH, ids=lambda p: p.stem)
def test_chinese_notebook_has_its_english_twins_code(path):
    english, chinese = _code_cells(ROOT / "notebooks" / path.name), _code_cells(path)
    assert len(chinese) == len(english), f"zh/{path.name} has {len(chinese)} code cells, the English {len(english)}"
    for i, (en, zh) in enumerate(zip(english, chinese)):
        drift = code_drift(_text(en), _text(zh))
        assert drift is None, f"zh/{path.name}, code cell {i}: the code differs from the English twin's\n  {drift}"
        assert en.metadata.get("jupyter") == zh.metadata.get("jupyter"), f"code cell {i}: collapsed in one only"


def test_chinese_versions_of_00_01_02_05_06_each_with_its_english_original():
    assert {"00", "01", "02", "05", "06"} <= {p.stem[:2] for p in ZH}
    for path in ZH:
        assert (ROOT / "notebooks" / path.name).is_file(), f"notebooks/{path.name} is the original of {path}"


@pytest.mark.parametrize("path", ZH, ids=lambda p: p.stem)
def test_chinese_notebook_is_stored_clean_framed_and_translated(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "strip the outputs before committing"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "你将学到" in _text(first)
    exercise = max(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    assert _text(nb.cells[exercise]).lstrip("# ").startswith("练习"), "the last markdown cell is the exercise"
    assert all(test_notebooks._hidden(c) for c in nb.cells[exercise + 1:]), "after it only its collapsed solution"
    untranslated = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and not CJK.search(_text(c))]
    assert not untranslated, f"markdown cells {untranslated} have no Chinese text"


# zh/08 is 08's code (test_chinese_notebook_has_its_english_twins_code) and 08 runs in tests/test_notebooks.py: its
# ~20 torchrun worker processes cost CI 75 s a run, so the Chinese copy is not run twice (its executed copy is made by
# `python -m tools.docs_notebooks zh/08`)
SAME_CODE_RUN_ONCE = {"08_scale_out"}


@pytest.mark.slow
@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.skip(reason="08's code, run in test_notebooks.py"))
                                  if p.stem in SAME_CODE_RUN_ONCE else p for p in ZH], ids=lambda p: p.stem)
def test_chinese_notebook_runs_without_errors(path, kernel_name, tmp_path):
    from nbclient.exceptions import CellExecutionError

    try:
        nb = docs_notebooks.execute(path, kernel_name, folder=tmp_path)   # stops the TensorBoards it started
    except CellExecutionError as e:
        pytest.fail(f"zh/{path.name} raised:\n{e}")
    assert not _errors(nb), "\n".join(_errors(nb))
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code" and _text(c).strip())
    if docs_notebooks.wanted():   # NBTRAIN_DOCS_NOTEBOOKS=1: refresh the executed copy in docs/notebooks/zh/
        docs_notebooks.write_copy(nb, path)


def test_readme_zh_gives_the_readmes_two_commands():
    english = _bash_dev_commands((ROOT / "README.md").read_text())
    assert english == ["bash dev.sh demo", "bash dev.sh test"]
    assert _bash_dev_commands(README_ZH.read_text()) == english


def test_readme_zh_notes_mirrors_by_their_setting_and_names_no_host():
    text = README_ZH.read_text()
    assert "pip config set global.index-url <镜像地址>" in text
    assert "conda config --add channels" in text
    assert not re.search(r"[a-z]+://", text), "name the setting, not a mirror's host"


def test_readme_zh_notes_the_cjk_font_and_how_to_install_one():
    text = README_ZH.read_text()
    assert "sudo apt-get install -y fonts-noto-cjk" in text
    assert "use_cjk_font" in text and "NBTRAIN_LANG=zh" in text
    for font in viz.CJK_FONTS:
        assert font in text


def test_readme_zh_links_resolve_and_map_every_seed_and_chinese_notebook():
    text = README_ZH.read_text()
    links = re.findall(r"\]\(([^)#]+)\)", text)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.zh-CN.md links files that do not exist: {missing}"
    for path in ZH:
        assert f"](notebooks/zh/{path.name})" in text
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (00[0-4]) [^|]+\|[^|]+\|(.+)\|$", text, flags=re.MULTILINE)}
    assert sorted(rows) == ["000", "001", "002", "003", "004"]
    for seed, cell in rows.items():
        assert re.search(r"\]\(notebooks/(zh/)?\d\d\w*\.ipynb\)", cell), f"seed {seed} maps to no notebook"


def test_glossary_has_the_seeds_terms_in_english_and_chinese():
    text = (ROOT / "docs" / "glossary.md").read_text()
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| [^|]* \| [^|]+ \|$", text, flags=re.MULTILINE)[1:]   # [0]: the header
    terms = {en.strip(): zh.strip() for en, zh in rows if not en.startswith("---")}
    assert len(terms) >= 40 and len(terms) == len([r for r in rows if not r[0].startswith("---")]), "unique terms"
    assert terms["tensor"] == "张量" and terms["gradient"] == "梯度" and terms["learning rate"] == "学习率"
    assert all(re.search("[A-Za-z]", en) and zh for en, zh in terms.items())
    assert sum(bool(CJK.search(zh)) for zh in terms.values()) >= 40


@pytest.fixture
def rc():
    with matplotlib.rc_context():
        yield matplotlib.rcParams


def test_use_cjk_font_adds_the_first_installed_font_in_order_as_a_fallback(rc):
    family, sans = list(rc["font.family"]), list(rc["font.sans-serif"])
    installed = ["DejaVu Sans", "SimHei", "WenQuanYi Zen Hei"]
    assert viz.use_cjk_font("损失曲线", lang="en", installed=installed) == "WenQuanYi Zen Hei"
    assert rc["font.family"] == [*family, "WenQuanYi Zen Hei"]      # Latin text keeps its font
    assert rc["font.sans-serif"] == [sans[0], "WenQuanYi Zen Hei", *sans[1:]]
    assert viz.use_cjk_font("再一次", lang="en", installed=installed) == "WenQuanYi Zen Hei"
    assert rc["font.family"] == [*family, "WenQuanYi Zen Hei"], "a second call adds nothing"


@pytest.mark.parametrize("lang", ["zh", "zh_CN.UTF-8", "zh_TW"])
def test_use_cjk_font_for_a_chinese_language_without_chinese_text(rc, lang):
    assert viz.use_cjk_font("loss", lang=lang, installed=["Noto Sans CJK SC", "SimHei"]) == "Noto Sans CJK SC"
    assert rc["font.family"][-1] == "Noto Sans CJK SC"


@pytest.mark.parametrize("text, lang, installed", [
    ("loss", "en_US.UTF-8", ["Noto Sans CJK SC"]),      # no CJK wanted
    ("", "", ["Noto Sans CJK SC"]),
    ("损失", "zh", ["DejaVu Sans", "Arial"]),            # wanted, none installed
])
def test_use_cjk_font_changes_nothing_when_not_wanted_or_not_installed(rc, text, lang, installed):
    family, sans = list(rc["font.family"]), list(rc["font.sans-serif"])
    assert viz.use_cjk_font(text, lang=lang, installed=installed) is None
    assert rc["font.family"] == family and rc["font.sans-serif"] == sans


@pytest.mark.parametrize("env", [{"NBTRAIN_LANG": "zh"}, {"NBTRAIN_LANG": "", "LANG": "zh_CN.UTF-8"}])
def test_new_figure_adds_the_font_when_the_language_is_chinese(rc, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(viz, "_installed_fonts", lambda: frozenset({"DejaVu Sans", "Microsoft YaHei"}))
    viz.new_figure()
    assert rc["font.family"][-1] == "Microsoft YaHei"


def test_new_figure_leaves_fonts_alone_in_another_language(rc, monkeypatch):
    monkeypatch.setenv("NBTRAIN_LANG", "en")
    monkeypatch.setattr(viz, "_installed_fonts", lambda: frozenset({"Noto Sans CJK SC"}))
    family = list(rc["font.family"])
    viz.new_figure()
    assert rc["font.family"] == family


def test_a_chinese_title_draws_without_missing_glyphs_where_a_cjk_font_is_installed(rc):
    font = viz.use_cjk_font("损失曲线")
    if font is None:
        why = "no CJK font installed (apt-get install fonts-noto-cjk, then clear matplotlib's font cache)"
        if os.environ.get("NBTRAIN_REQUIRE_CJK_FONT") == "1":   # CI installs one (.ci/run): a skip there is a failure
            pytest.fail(why)
        pytest.skip(why)
    fig = viz.new_figure(3, 2)
    fig.subplots().set_title("损失曲线 loss")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")
        png = viz.to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
