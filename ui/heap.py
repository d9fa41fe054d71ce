"""Keeps Streamlit's collection after every run cheap."""

import gc
import sys

_modules_seen = 0


def freeze_after_imports() -> None:
    """After a run that imported modules, moves every live object into the collector's
    permanent generation (gc.freeze).

    Streamlit runs a full collection after every run of every page (runner.postScriptGC);
    over the objects of pandas, plotly and the rest, which live as long as the server,
    that took about 200 ms of each Draw rerun. Frozen, they are not walked again. Runs
    that imported nothing freeze nothing, so later garbage is collected as ever.
    """
    global _modules_seen
    if len(sys.modules) != _modules_seen:
        _modules_seen = len(sys.modules)
        gc.freeze()
