"""A grid of digits drawn as one terminal image, with a caption (labels, saved path)."""

from __future__ import annotations

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..images import cell_pixels, image_class


class DigitGrid(Vertical):
    """Holds one textual-image widget; `show` swaps its picture (built off the UI thread by the caller)."""

    def __init__(self, placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Static(self._placeholder, classes="grid-caption")
        yield image_class(getattr(self.app, "image_mode", None))(None, classes="grid-image")

    def budget(self) -> tuple[int, int]:
        """Pixels available for the picture (the caption takes one line): what `fit_grid` sizes digits for."""
        cw, ch = cell_pixels(type(self.query_one(".grid-image")))
        w, h = self.content_size.width or 80, max((self.content_size.height or 24) - 2, 4)
        return w * cw, h * ch

    def show(self, image: PILImage.Image | None, caption: str = "") -> None:
        widget = self.query_one(".grid-image")
        if image is not None:
            # size the widget in cells so the whole grid fits the panel at one scale (no clipping, no stretching)
            cw, ch = cell_pixels(type(widget))
            bw, bh = self.budget()
            scale = min(bw / image.width, bh / image.height)
            widget.styles.width = max(1, round(image.width * scale / cw))
            widget.styles.height = max(1, round(image.height * scale / ch))
        widget.image = image
        self.query_one(".grid-caption", Static).update(caption or ("" if image else self._placeholder))
