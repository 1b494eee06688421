"""The control layer: the parameter registry, the state controllers write and the render loop reads, OSC
and OSCQuery, presets, and the bounded reporting of problems. No rendering, no device."""
