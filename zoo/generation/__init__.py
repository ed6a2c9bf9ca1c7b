"""What generated music becomes (MIDI, audio, pictures) and how it is judged against real music."""
