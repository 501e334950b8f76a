"""Step 4, rendering: the warp of the lower face, the mouth interior, the dubbing mouth bank,
expression, style from the prompt, idle motion, and the renderer that drives them per frame."""
