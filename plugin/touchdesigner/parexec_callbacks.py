"""Parameter Execute DAT callbacks for the LatentVJ Base COMP: hand parameter changes to its extension.

Put this Parameter Execute DAT inside the COMP (File parameter: this file) with OPs ``..`` (the COMP),
Parameters ``*``, and Value Change and On Pulse turned on. The extension (latentvj_ext.py) sends the
change as OSC unless it made the change itself (an echo from the server).
"""


def _ext():
    return parent().ext.LatentVJExt  # noqa: F821 - parent() is a TouchDesigner global


def onValueChange(par, prev):
    _ext().OnParValueChange(par)


def onPulse(par):
    _ext().OnParPulse(par)
