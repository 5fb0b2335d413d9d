"""The compute core: its instruction set (:mod:`.isa`) and, part by part, its hardware."""
