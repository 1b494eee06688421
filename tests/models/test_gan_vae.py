"""The GAN and VAE architectures: shapes, output range, config and input validation."""

import pytest
import torch

from latentvj.models.gan import Discriminator, GANConfig, Generator, upsampled
from latentvj.models.vae import VAE, VAEConfig


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_generator_makes_images_of_the_configured_size_in_range(resolution):
    config = GANConfig(resolution=resolution, latent_dim=16, ngf=4, ndf=4)
    generator = Generator(config).eval()
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = generator(z)
    assert images.shape == (3, 3, resolution, resolution)
    assert images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert generator.latent_dim == 16 and generator.resolution == resolution


@pytest.mark.parametrize("resolution", [32, 64])
def test_discriminator_gives_one_logit_per_image(resolution):
    config = GANConfig(resolution=resolution, latent_dim=8, ngf=4, ndf=4)
    logits = Discriminator(config)(torch.zeros(5, 3, resolution, resolution))
    assert logits.shape == (5,)


def test_generator_and_discriminator_train_together():
    config = GANConfig(resolution=32, latent_dim=8, ngf=4, ndf=4)
    generator, discriminator = Generator(config), Discriminator(config)
    loss = discriminator(generator(torch.randn(2, 8))).mean()
    loss.backward()
    assert all(p.grad is not None for p in generator.parameters())


def test_default_dcgan_has_the_benchmarked_size():
    # the benchmark figures refer to the 64 px, ngf 64 DCGAN (about 3.8M parameters with z of 128)
    with torch.device("meta"):
        generator = Generator(GANConfig())
    n = sum(p.numel() for p in generator.parameters())
    assert 3.4e6 < n < 4.0e6


def test_single_channel_generator():
    generator = Generator(GANConfig(resolution=32, latent_dim=8, ngf=4, channels=1))
    assert generator(torch.randn(2, 8)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("resolution", [16, 48, 100, 1024, 0, -64, 64.0, True])
@pytest.mark.parametrize("config_type", [GANConfig, VAEConfig])
def test_bad_resolution_is_refused_with_the_allowed_values(config_type, resolution):
    with pytest.raises(ValueError, match=r"resolution must be a power of two from 32 to 512.*got"):
        config_type(resolution=resolution)


@pytest.mark.parametrize("field", ["latent_dim", "ngf", "ndf", "channels"])
@pytest.mark.parametrize("value", [0, -3, 2.5, "8"])
def test_gan_sizes_must_be_positive_integers(field, value):
    with pytest.raises(ValueError, match=rf"GANConfig.{field} must be a positive integer"):
        GANConfig(**{field: value})


@pytest.mark.parametrize("field", ["latent_dim", "base", "channels"])
def test_vae_sizes_must_be_positive_integers(field):
    with pytest.raises(ValueError, match=rf"VAEConfig.{field} must be a positive integer, got 0"):
        VAEConfig(**{field: 0})


@pytest.mark.parametrize("shape", [(4, 7), (4,), (1, 8, 1, 1), (2, 9)])
def test_generator_says_which_z_shape_it_expected(shape):
    generator = Generator(GANConfig(resolution=32, latent_dim=8, ngf=4))
    with pytest.raises(ValueError, match=rf"expected z of shape \[B, 8\], got \[{', '.join(map(str, shape))}\]"):
        generator(torch.zeros(shape))


def test_discriminator_says_which_image_shape_it_expected():
    discriminator = Discriminator(GANConfig(resolution=32, latent_dim=8, ndf=4))
    with pytest.raises(ValueError, match=r"expected images of shape \[B, 3, 32, 32\], got \[2, 3, 64, 64\]"):
        discriminator(torch.zeros(2, 3, 64, 64))


@pytest.mark.parametrize("resolution", [32, 64])
def test_vae_encode_decode_shapes_and_range(resolution):
    vae = VAE(VAEConfig(resolution=resolution, latent_dim=12, base=4)).eval()
    x = torch.rand(2, 3, resolution, resolution) * 2 - 1
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        images = vae.decode(mu)
    assert mu.shape == logvar.shape == (2, 12)
    assert images.shape == (2, 3, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert vae.latent_dim == 12 and vae.resolution == resolution


def test_vae_forward_takes_its_randomness_as_an_argument():
    vae = VAE(VAEConfig(resolution=32, latent_dim=8, base=4)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        a = vae(x, generator=torch.Generator().manual_seed(3))
        b = vae(x, generator=torch.Generator().manual_seed(3))
        c = vae(x, eps=torch.zeros(2, 8))
        mu, _ = vae.encode(x)
    for ta, tb in zip(a, b):
        torch.testing.assert_close(ta, tb)  # same generator seed, same result
    torch.testing.assert_close(c[0], vae.decode(mu))  # eps = 0 samples the mean
    assert a[0].shape == (2, 3, 32, 32)


def test_vae_forward_refuses_hidden_or_ambiguous_randomness():
    vae = VAE(VAEConfig(resolution=32, latent_dim=8, base=4))
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="exactly one of eps"):
        vae(x)
    with pytest.raises(ValueError, match="exactly one of eps"):
        vae(x, eps=torch.zeros(1, 8), generator=torch.Generator())
    with pytest.raises(ValueError, match=r"expected eps of shape \[1, 8\], got \[1, 9\]"):
        vae(x, eps=torch.zeros(1, 9))


def test_vae_checks_shapes_at_both_ends():
    vae = VAE(VAEConfig(resolution=32, latent_dim=8, base=4))
    with pytest.raises(ValueError, match=r"expected images of shape \[B, 3, 32, 32\], got \[1, 1, 32, 32\]"):
        vae.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"expected z of shape \[B, 8\], got \[1, 16\]"):
        vae.decode(torch.zeros(1, 16))


def test_vae_trains():
    vae = VAE(VAEConfig(resolution=32, latent_dim=8, base=4))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    recon, mu, logvar = vae(x, generator=torch.Generator().manual_seed(0))
    loss = (recon - x).square().mean() - 0.5 * (1 + logvar - mu.square() - logvar.exp()).mean()
    loss.backward()
    assert all(p.grad is not None for p in vae.parameters())


def test_reflect_padding_mirrors_the_edge_and_is_refused_where_it_cannot_apply():
    """padding "reflect": the resize convolutions see the map mirrored beyond its edge, so a constant map
    stays constant to the border (zero padding darkens the edge: a line the data does not have)."""
    zeros = Generator(GANConfig(resolution=32, latent_dim=8, ngf=4, upsample="resize"))
    reflect = Generator(GANConfig(resolution=32, latent_dim=8, ngf=4, upsample="resize", padding="reflect"))
    conv = reflect.to_image
    assert conv.padding_mode == "reflect" and zeros.to_image.padding_mode == "zeros"
    with torch.no_grad():
        conv.weight.fill_(0.1)
        zeros.to_image.weight.fill_(0.1)
        flat = torch.ones(1, conv.in_channels, 16, 16)
        mirrored = upsampled(flat, conv)
        padded = upsampled(flat, zeros.to_image)
    assert torch.allclose(mirrored, mirrored[..., 8:9, 8:9].expand_as(mirrored)), "flat to the edge"
    assert (padded[0, :, 0, 0] < padded[0, :, 16, 16]).all(), "zeros darken the corner"
    with pytest.raises(ValueError, match="padding 'reflect' needs upsample 'resize'"):
        GANConfig(upsample="transposed", padding="reflect")
    with pytest.raises(ValueError, match=r"padding must be one of \['zeros', 'reflect'\], got 'circular'"):
        GANConfig(upsample="resize", padding="circular")


def test_a_fitted_prior_is_the_gaussian_of_the_datas_encodings_and_walks_play_through_it():
    """VAE.fit_prior: the mean and covariance (Cholesky factor) of the encodings' means; sample(x) decodes
    mean + scale @ x; to_prior inverts from_prior; a model without one plays N(0, I) as before."""
    torch.manual_seed(0)
    vae = VAE(VAEConfig(resolution=32, latent_dim=8, base=4)).eval()
    x = torch.randn(5, 8)
    with torch.no_grad():
        before = vae.sample(x)
        assert torch.equal(before, vae.decode(x)) and torch.equal(vae.to_prior(x), x)
        images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
        vae.fit_prior(images)
        assert vae.config.prior == "fitted"
        encodings = vae.encode(images)[0]
        assert torch.allclose(vae.prior_mean, encodings.mean(dim=0), atol=1e-5)
        assert torch.allclose(vae.prior_scale @ vae.prior_scale.T, torch.cov(encodings.T), atol=1e-4)
        assert torch.allclose(vae.sample(x), vae.decode(vae.prior_mean + x @ vae.prior_scale.T), atol=1e-6)
        assert torch.allclose(vae.to_prior(vae.from_prior(x)), x, atol=1e-4)
        uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
        again = VAE(vae.config).eval()
        again.load_state_dict(vae.state_dict())  # strict: a fitted config has the buffers
        assert torch.allclose(again.sample(x), vae.sample(x), atol=1e-6)
        refit = VAE(VAEConfig(resolution=32, latent_dim=8, base=4)).eval()
        refit.load_state_dict(vae.state_dict(), strict=False)
        refit.fit_prior(uint8)  # uint8 pictures are read as the training data is
        assert torch.allclose(refit.prior_mean, vae.prior_mean, atol=2e-2)
    with pytest.raises(ValueError, match="more images than latent dimensions"):
        VAE(VAEConfig(resolution=32, latent_dim=8, base=4)).fit_prior(images[:8])
    with pytest.raises(ValueError, match=r"prior must be one of \['normal', 'fitted'\]"):
        VAEConfig(prior="learned")
