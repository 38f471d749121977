"""A model bundle records how its noise model was obtained (the noise model's provenance)."""

from factories import tiny_model

from napari_hdn.model import load_model
from napari_hdn.noise_models import PoissonGaussianNoiseModel


def test_noise_model_provenance_survives_the_bundle(tmp_path):
    noise_model = PoissonGaussianNoiseModel(2.0, 100.0, 3.0)
    noise_model.provenance = {"source": "estimated", "gain": 2.0, "gain_std": 0.01, "clipped_levels": [None, 4095.0]}
    tiny_model(noise_model=noise_model, data_mean=150.0, data_std=50.0).save(tmp_path / "m")
    assert load_model(tmp_path / "m").noise_model.provenance == noise_model.provenance
