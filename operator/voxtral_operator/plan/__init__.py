"""In what order, and what is written: the pure planner, the drift test and the memory
of the operator's own writes."""
