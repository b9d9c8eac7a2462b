import click

@click.group()
def fleet() -> None:
    """Start, stop, inspect and scale the local fleet."""
