"""Generate docs/algorithms/<id>.md, one page per algorithm, from the algorithms' own help and parameters.

Run with Debian's python3 (QGIS's): ``QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/make_docs.py [OUTDIR]``
(default docs/algorithms; ``test/qgis/test_docs.py`` checks the committed pages are up to date).
The pages are what the Processing dialog shows, laid out for reading on the web: parameters (name, type,
default, optional/advanced, help), outputs, and the help text with formulas, units, time step and references.
"""

from __future__ import annotations

import html
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "algorithms"


def _markdown(help_html: str) -> str:
    """The help's small HTML subset as Markdown."""
    text = help_html
    text = re.sub(r"</?p>", "\n\n", text)
    text = re.sub(r"<br\s*/?>", "  \n", text)
    text = re.sub(r"</?b>", "**", text)
    text = re.sub(r"</?i>", "*", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def load_provider():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QGIS_CUSTOM_CONFIG_PATH", tempfile.mkdtemp(prefix="csink_docs_"))
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    plugins = Path(tempfile.mkdtemp(prefix="csink_plugin_"))
    (plugins / "carbon_sink_toolbox").symlink_to(ROOT, target_is_directory=True)
    sys.path.insert(0, str(plugins))
    import carbon_sink_toolbox

    plugin = carbon_sink_toolbox.classFactory(None)
    plugin.initProcessing()
    return app, plugin


def page(alg) -> str:
    from qgis.core import QgsProcessingParameterDefinition

    lines = [f"# {alg.displayName()} (`carbonsink:{alg.name()}`)", "", f"Group: {alg.group()}", ""]
    lines += [_markdown(alg.shortHelpString()), "", "## Parameters", ""]
    lines += ["| name | type | default | | description |", "| --- | --- | --- | --- | --- |"]
    outputs = []
    for p in alg.parameterDefinitions():
        if p.isDestination():
            outputs.append(p)
            continue
        flags = []
        if p.flags() & QgsProcessingParameterDefinition.FlagOptional:
            flags.append("optional")
        if p.flags() & QgsProcessingParameterDefinition.FlagAdvanced:
            flags.append("advanced")
        default = p.defaultValue()
        if hasattr(p, "options") and callable(p.options) and isinstance(default, int):
            default = f"{default}: {p.options()[default]}"
        lines.append(
            f"| `{p.name()}` | {p.type()} | {_cell('' if default is None else default)} | {', '.join(flags)} | "
            f"**{_cell(p.description())}**. {_cell(p.help())} |"
        )
        if hasattr(p, "options") and callable(p.options):
            lines.append(f"| | | | | options: {_cell('; '.join(f'{i} = {o}' for i, o in enumerate(p.options())))} |")
    lines += ["", "## Outputs", "", "| name | type | | description |", "| --- | --- | --- | --- |"]
    for p in outputs:
        optional = "optional" if p.flags() & QgsProcessingParameterDefinition.FlagOptional else ""
        lines.append(f"| `{p.name()}` | {p.type()} | {optional} | **{_cell(p.description())}**. {_cell(p.help())} |")
    lines += ["", "## Command line", "", "```bash", f"qgis_process.bin help carbonsink:{alg.name()}", "```", ""]
    return "\n".join(lines)


def main() -> None:
    from qgis.core import QgsApplication

    docs = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS
    _app, plugin = load_provider()
    provider = QgsApplication.processingRegistry().providerById("carbonsink")
    docs.mkdir(parents=True, exist_ok=True)
    index = ["# Algorithms", "", "Generated from the algorithms' own help by `scripts/make_docs.py`.", ""]
    groups: dict[str, list] = {}
    for alg in provider.algorithms():
        (docs / f"{alg.name()}.md").write_text(page(alg), encoding="utf-8")
        groups.setdefault(alg.group(), []).append(alg)
    for group, algs in groups.items():
        index += [f"## {group}", ""]
        index += [f"- [{a.displayName()}]({a.name()}.md) (`carbonsink:{a.name()}`)" for a in algs]
        index.append("")
    index += ["See also [reproducing the papers](../reproducing_papers.md).", ""]
    (docs / "README.md").write_text("\n".join(index), encoding="utf-8")
    print(f"wrote {len(provider.algorithms())} pages to {docs}")
    plugin.unload()


if __name__ == "__main__":
    main()
