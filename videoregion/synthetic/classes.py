"""The class catalogue: seven motions, each run forwards and backwards in time (14 classes)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLASSES", "MOTIONS", "SyntheticClass", "partner"]


@dataclass(frozen=True)
class SyntheticClass:
    """One class: the motion it shows and the direction it runs through it.

    ``motion`` names the pair's varying attribute; ``forward`` classes run its phase from 0 to 1,
    their partners from 1 to 0. ``template`` is the Something-Something style description.
    """

    name: str
    motion: str
    forward: bool
    template: str


MOTIONS = ("move_x", "move_y", "move_diagonal", "scale", "gain", "alpha", "rotate")

# Pairs sit next to each other: class 2k and 2k + 1 are each other's reversal in time. The rotation
# pair comes last, the hardest: telling clockwise from anticlockwise needs motion related to the object's
# shape (no net displacement, no change in area or brightness; README, "The rotation pair"). The main job
# takes all 14; ``num_classes=12`` leaves the turn out, as the main job did before nano learned it.
CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass("move_right", "move_x", True, "Moving [something] from left to right"),
    SyntheticClass("move_left", "move_x", False, "Moving [something] from right to left"),
    SyntheticClass("move_down", "move_y", True, "Moving [something] down"),
    SyntheticClass("move_up", "move_y", False, "Moving [something] up"),
    SyntheticClass("move_down_right", "move_diagonal", True, "Moving [something] diagonally down"),
    SyntheticClass("move_up_left", "move_diagonal", False, "Moving [something] diagonally up"),
    SyntheticClass("grow", "scale", True, "Making [something] bigger"),
    SyntheticClass("shrink", "scale", False, "Making [something] smaller"),
    SyntheticClass("brighten", "gain", True, "Lighting up [something]"),
    SyntheticClass("darken", "gain", False, "Dimming [something]"),
    SyntheticClass("appear", "alpha", True, "Making [something] appear"),
    SyntheticClass("disappear", "alpha", False, "Making [something] disappear"),
    SyntheticClass("rotate_cw", "rotate", True, "Turning [something] clockwise"),
    SyntheticClass("rotate_ccw", "rotate", False, "Turning [something] counterclockwise"),
)


def partner(class_index: int) -> int:
    """The class whose videos are this class's videos played backwards."""
    if not 0 <= class_index < len(CLASSES):
        raise ValueError(f"class index {class_index} out of range [0, {len(CLASSES)})")
    return class_index ^ 1
