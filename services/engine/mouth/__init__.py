"""Step 3, audio -> mouth shapes: the phonetic front end (pocketsphinx acoustics), the network that
reads it, visemes and the per-frame track."""
