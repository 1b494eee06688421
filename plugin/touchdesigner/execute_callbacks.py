"""Execute DAT callbacks for the LatentVJ Base COMP: poll replies every frame, stop the server on exit.

Put this Execute DAT inside the COMP (File parameter: this file) and turn on Frame Start (and On Exit,
to stop a server started with Start Server when TouchDesigner quits). ``Update()`` never blocks: it reads
whatever replies and echoes have arrived since the last frame.
"""


def _ext():
    return parent().ext.LatentVJExt  # noqa: F821 - parent() is a TouchDesigner global


def onFrameStart(frame):
    _ext().Update()


def onExit():
    _ext().StopServer(wait=True)
