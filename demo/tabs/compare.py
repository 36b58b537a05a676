"""The "Compare" group: the same networks trained as a plain autoencoder (ae2d) and as a VAE (latent2d), side by side.

`compare_tab(page, tab)` builds it inside the caller's `gr.Tab("Compare")` (`tab`: opening it draws
the first comparison). Named API endpoint: `/compare`.
"""

from __future__ import annotations

import gradio as gr
from widgets import checked_slider

from tabs.page import Page, code_map, pixel_image, seed_number


def compare_tab(page: Page, tab: gr.Tab) -> None:
    page.intro(
        "The same networks trained as a plain autoencoder (ae2d) and as a VAE (latent2d). The VAE's random codes come from "
        "its prior; the autoencoder has none, so its codes are drawn uniformly over the region its test codes occupy: "
        "most land on the few digits its space stretches out, and its gaps decode to whatever lies nearest.",
        ("theory/autoencoders.md", "autoencoders"),
        ("theory/kl.md", "the KL term"),
        ("demo.md#autoencoder-vs-vae", "this tab"),
    )
    with gr.Row():
        n = checked_slider(1, 64, 25, step=1, label="random codes")
        seed = seed_number()
        button = gr.Button("Draw random codes", variant="primary", elem_id="compare-button")
    with gr.Row():
        with gr.Column():
            ae_map = code_map("Autoencoder (ae2d): codes", 380, "compare-ae-map")
            ae_grid = pixel_image("Autoencoder: decodes of codes drawn uniformly over its region", 300, "compare-ae-grid")
        with gr.Column():
            vae_map = code_map("VAE (latent2d): codes", 380, "compare-vae-map")
            vae_grid = pixel_image("VAE: decodes of codes drawn from the prior N(0, I)", 300, "compare-vae-grid")
    note = gr.Markdown(elem_id="compare-note")
    outputs = [ae_map, vae_map, ae_grid, vae_grid, note]
    button.click(page.explorer.compare, [n, seed], outputs, api_name="compare")
    tab.select(page.explorer.compare, [n, seed], outputs, api_name="compare_on_tab", api_visibility="private")


__all__ = ["compare_tab"]
