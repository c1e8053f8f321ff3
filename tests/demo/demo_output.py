"""How the demo speaks: a titled step, an indented note, and a check that stops the demo."""


class DemoFailure(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailure(message)


def say(title: str) -> None:
    print(f"\n== {title}", flush=True)


def note(text: str = "") -> None:
    print(f"   {text}" if text else "", flush=True)
