"""Checks run *inside* the QGIS desktop application, driven by ``test_desktop.py``.

QGIS executes this file twice:

1. through ``PYQGIS_STARTUP`` while its embedded Python starts, before any plugin loads (QGIS 3.22 may exec that
   file twice; the hooks are installed once): it records every ``QgsMessageLog`` message from then on and closes
   (after recording their text) the modal dialogs QGIS opens when a plugin raises during startup, so that a
   broken plugin gives a report instead of a hung application;
2. through ``--code`` once the main window is up: it checks the plugin, the Processing provider, the Processing
   toolbox and the algorithm dialogs, takes screenshots, writes a JSON report and quits QGIS.

Environment (set by the test):

- ``CARBONSINK_DESKTOP_CHECK_DIR``: folder for ``desktop_check.json`` and the screenshots (required);
- ``CARBONSINK_DESKTOP_CHECK_ALG``: the algorithm whose dialog is photographed (default ``nep``);
- ``CARBONSINK_DESKTOP_CHECK_DEADLINE``: seconds after Python starts by which the check must have run, or the
  report is written with an error and QGIS quits with status 3 (default 240).

The judging (which messages are problems) is done by the test, not here: this script only records.
"""

import json
import os
import re
import sys
import time
import traceback
import types

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import QEventLoop, Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QDialog, QDockWidget, QLabel, QMessageBox, QTabWidget, QTextEdit

PLUGIN = "carbon_sink_toolbox"
PROVIDER = "carbonsink"
STATE_MODULE = "_carbonsink_desktop_check_state"
LEVEL_NAMES = {0: "Info", 1: "Warning", 2: "Critical", 3: "Success", 4: "NoLevel"}


# --------------------------------------------------------------------------------------------- phase 1: hooks


def _now(state) -> float:
    return round(time.monotonic() - state.t0, 3)


def _on_message(message, tag, level) -> None:
    state = sys.modules[STATE_MODULE]
    level = int(level)
    state.messages.append(
        {
            "t": _now(state),
            "tag": tag,
            "level": level,
            "level_name": LEVEL_NAMES.get(level, str(level)),
            "message": message,
        }
    )


def _widget_text(widget) -> str:
    """The visible text of a dialog: its title, labels, text views and message-box text."""
    parts = [widget.windowTitle()]
    if isinstance(widget, QMessageBox):
        parts += [widget.text(), widget.informativeText(), widget.detailedText()]
    parts += [label.text() for label in widget.findChildren(QLabel)]
    parts += [view.toPlainText() for view in widget.findChildren(QTextEdit)]
    return "\n".join(p for p in parts if p)


def _close_modal_dialogs() -> None:
    """Record and close any modal dialog (QGIS's Python error dialog is one); the check's own are not modal."""
    state = sys.modules[STATE_MODULE]
    widget = QApplication.activeModalWidget()
    if widget is None:
        return
    state.dialogs.append(
        {
            "t": _now(state),
            "during": "check" if state.checking else "startup",
            "class": widget.metaObject().className(),
            "title": widget.windowTitle(),
            "text": _widget_text(widget),
        }
    )
    if isinstance(widget, QDialog):
        widget.reject()
    else:
        widget.close()


def _deadline() -> None:
    state = sys.modules[STATE_MODULE]
    if state.done:
        return
    report = state.report if state.report is not None else _base_report(state)
    where = "finish" if state.checking else "start (did --code run?)"
    report["errors"].append(f"the desktop check did not {where} within {state.deadline_seconds} s of Python's start")
    _finish(state, report, status=3)


def _install_hooks():
    """Phase 1 (idempotent): message-log recorder, modal-dialog watchdog, deadline."""
    state = sys.modules.get(STATE_MODULE)
    if state is not None:
        return state
    state = types.ModuleType(STATE_MODULE)
    state.t0 = time.monotonic()
    state.messages = []
    state.dialogs = []
    state.checking = False
    state.done = False
    state.report = None
    state.hooked_at_startup = sys.modules.get("qgis.utils") is None or sys.modules["qgis.utils"].iface is None
    state.deadline_seconds = float(os.environ.get("CARBONSINK_DESKTOP_CHECK_DEADLINE", "240"))
    sys.modules[STATE_MODULE] = state
    QgsApplication.messageLog().messageReceived.connect(_on_message)
    state.watchdog = QTimer()
    state.watchdog.setInterval(300)
    state.watchdog.timeout.connect(_close_modal_dialogs)
    state.watchdog.start()
    state.deadline_timer = QTimer()
    state.deadline_timer.setSingleShot(True)
    state.deadline_timer.timeout.connect(_deadline)
    state.deadline_timer.start(int(state.deadline_seconds * 1000))
    return state


# --------------------------------------------------------------------------------------------- phase 2: check


def _out_dir() -> str:
    folder = os.environ["CARBONSINK_DESKTOP_CHECK_DIR"]
    os.makedirs(folder, exist_ok=True)
    return folder


def _pump(ms: int) -> None:
    """Let Qt run (paint, deliver queued signals) for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec_()


def _base_report(state) -> dict:
    return {
        "qgis_version": Qgis.QGIS_VERSION,
        "python_executable": sys.executable,
        "python_version": sys.version,
        "hooked_at_startup": state.hooked_at_startup,
        "errors": [],
    }


def _parse_log_viewer(main_window) -> list:
    """Entries of the "Log Messages" panel, which also holds messages logged before Python started."""
    dock = main_window.findChild(QDockWidget, "MessageLog")
    tabs = dock.widget().findChild(QTabWidget) if dock is not None and dock.widget() is not None else None
    if tabs is None:
        raise RuntimeError("the Log Messages panel (dock 'MessageLog') was not found")
    head = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\s+(INFO|WARNING|CRITICAL|SUCCESS|NONE)\s+(.*)$")
    names = {"INFO": "Info", "WARNING": "Warning", "CRITICAL": "Critical", "SUCCESS": "Success", "NONE": "NoLevel"}
    levels = {v: k for k, v in LEVEL_NAMES.items()}
    entries = []
    for i in range(tabs.count()):
        tag = tabs.tabText(i).replace("&", "")
        editor = tabs.widget(i)
        text = editor.toPlainText() if hasattr(editor, "toPlainText") else ""
        for line in text.splitlines():
            match = head.match(line)
            if match:
                name = names[match.group(2)]
                entries.append({"tag": tag, "level": levels[name], "level_name": name, "message": match.group(3)})
            elif entries and entries[-1]["tag"] == tag:
                entries[-1]["message"] += "\n" + line.strip()
    return entries


def _toolbox_report(tree) -> dict:
    """Expand the provider's node in the Processing toolbox tree and list the algorithms shown under it."""
    from qgis.gui import QgsProcessingToolboxProxyModel
    from qgis.PyQt import sip

    proxy = sip.cast(tree.model(), QgsProcessingToolboxProxyModel)  # sip hands back the QSortFilterProxyModel base
    source_index = proxy.toolboxModel().indexForProvider(PROVIDER)
    index = proxy.mapFromSource(source_index)
    report = {"provider_node": index.isValid(), "node_text": index.data() if index.isValid() else None}
    shown = []

    def walk(parent, depth):
        tree.expand(parent)
        for row in range(proxy.rowCount(parent)):
            child = proxy.index(row, 0, parent)
            alg = tree.algorithmForIndex(child)
            if alg is not None:
                shown.append(alg.id())
            elif depth < 3:
                walk(child, depth + 1)

    if index.isValid():
        walk(index, 0)
        tree.scrollTo(index, tree.PositionAtTop)
    report["algorithms_shown"] = sorted(shown)
    return report


def _dialog_report(dialog) -> dict:
    panel = dialog.mainWidget() if hasattr(dialog, "mainWidget") else None
    wrappers = getattr(panel, "wrappers", {}) or {}
    return {
        "class": dialog.metaObject().className(),
        "title": dialog.windowTitle(),
        "visible": dialog.isVisible(),
        "size": [dialog.width(), dialog.height()],
        "widgets": sorted(name for name, wrapper in wrappers.items() if wrapper is not None),
    }


def _screenshot(widget, name: str, report: dict) -> None:
    path = os.path.join(_out_dir(), name)
    pixmap = widget.grab()
    if not pixmap.save(path, "PNG"):
        raise RuntimeError(f"could not save the screenshot {path}")
    report.setdefault("screenshots", {})[name] = {"path": path, "size": [pixmap.width(), pixmap.height()]}


def _step(report: dict, name: str, function) -> None:
    """Run one step; an exception is recorded (with its traceback) and the next steps still run."""
    try:
        function()
    except Exception:
        report["errors"].append(f"step {name!r} raised:\n{traceback.format_exc()}")


def _check() -> None:
    state = sys.modules[STATE_MODULE]
    if state.done or state.checking:
        return
    state.checking = True
    import processing
    import qgis.utils
    from qgis.PyQt.QtWidgets import QDialog as _QDialog

    iface = qgis.utils.iface
    main_window = iface.mainWindow()
    report = state.report = _base_report(state)
    alg_name = os.environ.get("CARBONSINK_DESKTOP_CHECK_ALG", "nep")

    def other_windows():
        return [
            {"class": w.metaObject().className(), "title": w.windowTitle(), "text": _widget_text(w)[:2000]}
            for w in QApplication.topLevelWidgets()
            if w.isVisible() and w is not main_window and isinstance(w, _QDialog)
        ]

    def plugin():
        module = sys.modules.get(PLUGIN)
        report["plugin"] = {
            "loaded": PLUGIN in qgis.utils.plugins,
            "active": PLUGIN in qgis.utils.active_plugins,
            "module_file": getattr(module, "__file__", None),
            "is_plugin_loaded": qgis.utils.isPluginLoaded(PLUGIN),
        }
        report["windows_after_startup"] = other_windows()

    def provider():
        prov = QgsApplication.processingRegistry().providerById(PROVIDER)
        report["provider"] = None
        if prov is not None:
            report["provider"] = {
                "name": prov.name(),
                "long_name": prov.longName(),
                "icon_exists": os.path.exists(prov.svgIconPath()),
                "algorithms": sorted(alg.id() for alg in prov.algorithms()),
            }

    def toolbox():
        processing_plugin = qgis.utils.plugins["processing"]
        processing_plugin.toolboxAction.setChecked(True)  # what Processing > Toolbox does
        dock = processing_plugin.toolbox
        main_window.resize(1600, 1000)
        main_window.move(0, 0)
        main_window.resizeDocks([dock], [420], Qt.Horizontal)  # wide enough for the algorithms' names
        _pump(500)
        report["toolbox"] = {"visible": dock.isVisible(), **_toolbox_report(dock.algorithmTree)}
        _pump(1500)
        _screenshot(main_window, "desktop_main_window.png", report)

    def all_dialogs():
        """Every algorithm's dialog is built and shown (the widget wrappers of all its parameters)."""
        prov = QgsApplication.processingRegistry().providerById(PROVIDER)
        report["algorithm_dialogs"] = {}
        for alg in prov.algorithms() if prov is not None else []:
            entry = {}
            try:
                dialog = processing.createAlgorithmDialog(alg.id(), {})
                if dialog is None:
                    raise RuntimeError("processing.createAlgorithmDialog returned None")
                dialog.show()
                _pump(150)
                entry = _dialog_report(dialog)
                entry["display_name"] = alg.displayName()
                entry["short_help"] = alg.shortHelpString()
                entry["parameters"] = sorted(
                    p.name() for p in alg.parameterDefinitions() if not p.flags() & p.FlagHidden
                )
                dialog.close()
                dialog.deleteLater()
            except Exception:
                entry["error"] = traceback.format_exc()
            report["algorithm_dialogs"][alg.id()] = entry
        _pump(300)

    def screenshot_dialog():
        dialog = processing.createAlgorithmDialog(f"{PROVIDER}:{alg_name}", {})
        if dialog is None:
            raise RuntimeError(f"no dialog for {PROVIDER}:{alg_name}")
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        _pump(300)
        dialog.resize(1000, 780)  # after show(): the dialog restores its saved geometry when shown
        _pump(2000)
        report["dialog"] = _dialog_report(dialog)
        report["dialog"]["algorithm"] = f"{PROVIDER}:{alg_name}"
        _screenshot(dialog, f"desktop_dialog_{alg_name}.png", report)
        dialog.close()
        dialog.deleteLater()
        _pump(200)

    def unload_and_reload():
        """What the Plugin Manager does when the plugin is switched off and on again."""
        if PLUGIN not in qgis.utils.active_plugins:
            raise RuntimeError(f"{PLUGIN} is not active: nothing to unload")
        registry = QgsApplication.processingRegistry()
        unloaded = qgis.utils.unloadPlugin(PLUGIN)
        _pump(200)
        after_unload = registry.providerById(PROVIDER) is None
        modules_left = sorted(m for m in sys.modules if m == PLUGIN or m.startswith(PLUGIN + "."))
        loaded = qgis.utils.loadPlugin(PLUGIN) and qgis.utils.startPlugin(PLUGIN)
        _pump(200)
        prov = registry.providerById(PROVIDER)
        report["reload"] = {
            "unloaded": bool(unloaded),
            "provider_removed": after_unload,
            "modules_left_after_unload": modules_left,
            "reloaded": bool(loaded),
            "algorithms_after_reload": sorted(alg.id() for alg in prov.algorithms()) if prov is not None else None,
        }

    def logs():
        _pump(500)  # queued messages (other threads) arrive
        report["log_viewer"] = _parse_log_viewer(main_window)

    for name, function in [
        ("plugin", plugin),
        ("provider", provider),
        ("toolbox", toolbox),
        ("all_dialogs", all_dialogs),
        ("screenshot_dialog", screenshot_dialog),
        ("unload_and_reload", unload_and_reload),  # last: a failure here cannot spoil the steps above
        ("logs", logs),
    ]:
        _step(report, name, function)
    if state.done:  # the deadline struck while a step was waiting: its report is written, QGIS is quitting
        return
    report["windows_at_end"] = other_windows()
    _finish(state, report, status=0)


def _finish(state, report: dict, status: int) -> None:
    state.done = True
    report["messages"] = list(state.messages)
    report["dialogs"] = list(state.dialogs)
    path = os.path.join(_out_dir(), "desktop_check.json")
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=str)
    os.replace(path + ".part", path)
    state.watchdog.stop()
    QgsApplication.exit(status)


def _main() -> None:
    utils = sys.modules.get("qgis.utils")
    startup_finished = utils is not None and getattr(utils, "iface", None) is not None
    state = _install_hooks()
    if startup_finished and not state.checking:
        QTimer.singleShot(1000, _check)  # --code runs before the main event loop starts


_main()
