"""The outputs: where frames go (shared memory, the browser preview, Max/Jitter, NDI). Each takes the
newest frame from the render loop and does its work on its own thread."""
