"""What every tab builder needs: the [`Page`][] (handlers, docs links, example digits, the session's model) and shared widgets.

The model menus of the Explore tabs are made by [`Page.model_menu`][], which remembers them:
once a training run of the Train tab ends, [`Page.offer_trained`][] adds the session's model
(`handlers.TRAINED`, labelled with what was trained) to every menu it fits, for that browser
session only. The handlers receive the session's `gr.State` (`Page.trained`) as their last input
and resolve the menu's value with `Explorer.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from handlers import IMAGE_MODELS, TRAINED, Explorer
from sketchpad import DigitSketchpad
from widgets import DIGIT_COLORS, CachedImage, CheckedDropdown, CheckedNumber, digit_upload

MAX_SEED = 2**31 - 1
SHIPPED_INFO = "shipped model"
OFFERED_INFO = f"shipped model, or “{TRAINED}”: the one this browser session trained in the Train tab"


class ModelDropdown(CheckedDropdown):
    """A model menu whose server-side check also lets TRAINED through, to `Explorer.resolve`, which checks that the
    session has a model that fits (the menu itself offers it only once a run has ended in this browser session;
    an API client, whose menus never change, may ask for it after its own `/train`)."""

    def preprocess(self, payload: Any) -> Any:
        return payload if payload == TRAINED else super().preprocess(payload)


@dataclass(frozen=True)
class ModelMenu:
    """A model menu and what it offers: its shipped models, and the session's model when it fits (`prior`: the tab
    samples from the prior, which an autoencoder trained here does not have)."""

    dropdown: ModelDropdown
    shipped: tuple[str, ...]
    default: str
    prior: bool

    def update(self, trained: Any, value: Any) -> dict:
        """The menu's choices for a session whose trained model is `trained` (None: none yet); keeps `value` if it is still offered."""
        choices = [(name, name) for name in self.shipped]
        offered = Explorer.offers(trained, self.prior)
        if offered:
            choices.append((f"{TRAINED}: {trained.name}", TRAINED))
        keep = value in self.shipped or (offered and value == TRAINED)
        return gr.update(choices=choices, value=value if keep else self.default, info=OFFERED_INFO if offered else SHIPPED_INFO)


class Page:
    """What every tab builder needs: the handlers, the docs base URL, the example files and the session's model.

    `docs_base` is a URL ending in "/" ("docs/" for the site served by the app), or "" when there
    are no docs to link to: the links then name the source Markdown page instead. `trained` is the
    session's `gr.State` holding its `live_run.TrainedModel` (None until a run ends), the last input
    of every handler that takes a model menu.
    """

    def __init__(self, explorer: Explorer, docs_base: str, trained: gr.State) -> None:
        self.explorer = explorer
        self.docs_base = docs_base
        self.trained = trained
        self.examples = explorer.example_paths()
        self.menus: list[ModelMenu] = []
        self.drawing_endpoint_done = False

    def link(self, page: str, text: str) -> str:
        """A Markdown link to a docs page (`theory/elbo.md#anchor`) under the docs base, or its source file's name."""
        path, _, anchor = page.partition("#")
        if not self.docs_base:
            return f"{text} (`docs/{path}`)"
        url = self.docs_base + path.removesuffix(".md") + "/" + (f"#{anchor}" if anchor else "")
        return f"[{text}]({url})"

    def intro(self, text: str, *pages: tuple[str, str]) -> None:
        links = " · ".join(self.link(page, label) for page, label in pages)
        gr.Markdown(f"{text}  \nRead more: {links}", elem_classes="tab-intro")

    def example(self, digit: int) -> str | None:
        """The first example PNG of a digit (names start with the digit)."""
        return next((p for p in self.examples if Path(p).name.startswith(f"{digit}_")), None)

    def digit_input(
        self, label: str, digit: int, key: str, draw_open: bool = False, all_examples: bool = False
    ) -> tuple[gr.Image, gr.Examples | None, gr.EventListener]:
        """An image slot for a digit (upload, example picker, or a drawing copied in with a button); elem_ids start with `key`."""
        image = digit_upload(
            folders=[self.explorer.examples_dir],
            value=self.example(digit),
            label=label,
            sources=["upload", "clipboard"],
            height=180,
            elem_classes="pixelated",
            elem_id=f"{key}-image",
        )
        examples = None
        if self.examples:  # one per digit (all of them in the reconstruction tab); each costs start-up time
            shown = self.examples if all_examples else self.examples[:10]
            examples = gr.Examples(
                [[p] for p in shown],
                inputs=image,
                label="Test-set examples: click one",
                examples_per_page=10,
                api_visibility="private",
                elem_id=f"{key}-examples",
            )
        with gr.Accordion("Draw a digit", open=draw_open):
            sketch = DigitSketchpad(
                type="pil",
                image_mode="L",
                canvas_size=(280, 280),
                fixed_canvas=True,
                layers=False,
                label="Sketchpad",
                brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                transforms=(),
                elem_id=f"{key}-sketch",
            )
            use = gr.Button("Use this drawing", elem_id=f"{key}-use-drawing")
        public = not self.drawing_endpoint_done
        self.drawing_endpoint_done = True
        drawn = use.click(
            self.explorer.drawing_to_image,
            sketch,
            image,
            api_name="drawing_to_image" if public else f"drawing_to_{label.lower().replace(' ', '_')}",
            api_visibility="public" if public else "private",
        )
        return image, examples, drawn

    def model_menu(
        self, shipped: tuple[str, ...], value: str, elem_id: str, label: str = "model", prior: bool = False
    ) -> ModelDropdown:
        """A model menu of the shipped models `shipped`, which will also offer the session's model (see `offer_trained`)."""
        dropdown = ModelDropdown(list(shipped), value=value, label=label, info=SHIPPED_INFO, interactive=True, elem_id=elem_id)
        self.menus.append(ModelMenu(dropdown, shipped, value, prior))
        return dropdown

    def offer_trained(self, runs: list[Any]) -> None:
        """After each of the training events `runs` (`TrainTab.runs`), offer the session's model in every menu it fits."""
        menus = list(self.menus)
        dropdowns = [menu.dropdown for menu in menus]

        def offer(trained: Any, *values: Any) -> list[dict]:
            return [menu.update(trained, value) for menu, value in zip(menus, values)]

        for i, run in enumerate(runs):
            run.then(offer, [self.trained, *dropdowns], dropdowns, api_name=f"offer_trained_{i}", api_visibility="private",
                     show_progress="hidden")


def last_dimension(page: Page, name: str) -> int:
    """The largest latent index of shipped model `name` (0 when it is not installed; the range then follows the chosen model)."""
    try:
        return page.explorer.model(name, IMAGE_MODELS).config.latent_dim - 1
    except gr.Error:
        return 0


def pixel_image(label: str, height: int, elem_id: str, format: str = "png", **kwargs: Any) -> CachedImage:
    """An output picture drawn with sharp pixels (28x28 digits scaled up), written atomically (see CachedImage)."""
    return CachedImage(label=label, format=format, elem_classes="pixelated", height=height, elem_id=elem_id, **kwargs)


def code_map(label: str, height: int, elem_id: str, **kwargs: Any) -> gr.ScatterPlot:
    """A 2-D map of codes (z1, z2) coloured by digit, its legend below (the values come from `widgets.map_value`)."""
    return gr.ScatterPlot(x="z1", y="z2", color="digit", label=label, height=height, elem_id=elem_id, color_map=DIGIT_COLORS,
                          elem_classes="legend-below", **kwargs)


def seed_number(value: int = 0) -> gr.Number:
    return CheckedNumber(value, label="seed", precision=0, minimum=0, maximum=MAX_SEED)


__all__ = ["MAX_SEED", "ModelDropdown", "ModelMenu", "Page", "last_dimension", "pixel_image", "seed_number"]
