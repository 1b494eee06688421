"""Code that runs inside a host (TouchDesigner, your own script): standard library + numpy only, never torch."""
