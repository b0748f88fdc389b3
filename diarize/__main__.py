"""``python -m diarize`` runs the command line interface (the ``diarize`` script)."""

from diarize.cli import main

if __name__ == "__main__":
    main(prog_name="diarize")
