"""The class catalogue: five actions, each run forwards and backwards in time (10 classes)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIONS", "CLASSES", "OrderClass", "partner"]


@dataclass(frozen=True)
class OrderClass:
    """One class: the action it shows and the direction it runs through it.

    ``action`` names the pair (a parameter sampler of :mod:`.params`); ``forward`` classes run the
    action's phase from 0 to 1, their partners from 1 to 0. ``template`` is the
    Something-Something style description.
    """

    name: str
    action: str
    forward: bool
    template: str


ACTIONS = ("spin", "gather", "fill", "pan", "zoom")

# Class 2k and 2k + 1 are each other's reversal in time. Screen coordinates have y pointing down, so
# a growing angle turns clockwise on screen.
CLASSES: tuple[OrderClass, ...] = (
    OrderClass("spin_clockwise", "spin", True, "Spinning [something] clockwise"),
    OrderClass("spin_anticlockwise", "spin", False, "Spinning [something] anticlockwise"),
    OrderClass("come_together", "gather", True, "Bringing [something] together"),
    OrderClass("move_apart", "gather", False, "Pulling [something] apart"),
    OrderClass("fill", "fill", True, "Filling [something]"),
    OrderClass("drain", "fill", False, "Draining [something]"),
    OrderClass("pan_right", "pan", True, "Panning the camera right over [something]"),
    OrderClass("pan_left", "pan", False, "Panning the camera left over [something]"),
    OrderClass("zoom_in", "zoom", True, "Zooming in on [something]"),
    OrderClass("zoom_out", "zoom", False, "Zooming out from [something]"),
)


def partner(class_index: int) -> int:
    """The class whose videos are this class's videos played backwards."""
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class index {class_index} out of range [0, {len(CLASSES)})")
    return class_index ^ 1
