"""The built-in default: a width-reduced FCN-8s on the synthetic dataset (``fcn-jax train`` with
no arguments), 1,200 steps to about 0.6 mean IU: 7 minutes on two CPU cores that another job was
sharing (7 min 2 s, 2026-12-03; README, Results). Every config starts from this one.
Every field's type and range or choices: ``fcn_jax/cli/config_check.SCHEMA``, checked before
any work (a new field goes in both).

    fcn-jax train --workdir runs/synthetic
"""

from ml_collections import ConfigDict, config_dict


def groups() -> tuple[tuple[str, tuple[tuple[str, object, str], ...]], ...]:
    """Every field as ``(name, default, meaning)``, in the groups ``fcn-jax config`` shows; the
    meaning is the field's one line there. A new field goes here and in ``SCHEMA``."""
    return (
        ("data", (
            ("dataset", "synthetic", "'synthetic', 'folder:PATH' (PATH/images/, PATH/masks/) "
             "or a prepared dataset (fcn-jax data info NAME)"),
            ("on_error", "raise", "folder datasets: 'skip' leaves bad pairs out and lists them"),
            ("data_dir", "", "the prepared datasets' folder ('': ~/tensorflow_datasets)"),
            ("input", "color", "NYUD also 'hha', 'color+depth' (early fusion), 'color|hha' "
             "(late fusion)"),
            ("tasks", ("semantic",), "SIFT Flow also ('semantic', 'geometric'): two heads, "
             "trained together"),
            ("num_train", 2000, "synthetic only: images in the train split"),
            ("num_val", 100, "synthetic only: images in the val split"),
            ("image_sizes", (96, 112, 128), "synthetic only: each side is drawn from these"),
        )),
        ("model", (
            ("arch", "fcn8s", "the net (every choice: fcn-jax geometry --help)"),
            ("width", 0.125, "channel counts scaled by this (1.0: the paper's nets)"),
            ("align", "same", "'caffe': the reference's pad 100 and crops; 'same': padded, "
             "no margin"),
            ("learnable_upsampling", False, "train the deconvolutions (else fixed bilinear)"),
            ("train_bn", False, "fcn-resnet*: train batch-norm statistics (else frozen)"),
            ("aux_loss_weight", 0.0, "fcn-resnet*: > 0 adds the auxiliary head's loss at this "
             "weight"),
            ("init_from", "", "a training workdir, fcn-jax convert's DIR or an .npz ('A|B': "
             "per stream)"),
        )),
        ("run length and cadence", (
            ("total_steps", 1200, "training steps"),
            ("eval_every", 400, "steps between validations on the whole val split"),
            ("checkpoint_every", 400, "steps between checkpoints"),
            ("batch_size", 8, "images per step, over all devices"),
            ("seed", 0, "seed of the init, the data order and the synthetic images"),
            ("log_every", 10, "steps between rows of metrics.jsonl"),
            ("keep_checkpoints", 2, "the latest checkpoints kept (the best is kept too)"),
            ("num_tiles", 4, "validation images drawn in each samples_STEP.png"),
        )),
        ("devices and speed", (
            ("parallel", "sharding", "data parallel over all devices: 'sharding' (jit) or "
             "'pmap'"),
            ("num_devices", 0, "0: all devices; N: the first N (one process only)"),
            ("dtype", "float32", "'bfloat16': compute in bfloat16, float32 master weights"),
            ("kernels", "auto", "'auto': fastest measured conv form per layer; 'xla': XLA's own"),
            ("remat", False, "recompute activations in the backward pass (big images)"),
            ("compilation_cache", True, "XLA's persistent cache in WORKDIR/xla_cache"),
            ("keep_freed_memory", "auto", "glibc keeps freed memory: 'on', 'off', 'auto' (on "
             "if crop_size > 0)"),
        )),
        ("input pipeline", (
            ("bucket_multiple", 32, "a batch's images padded up to a multiple of this"),
            ("flip", True, "random horizontal flips"),
            ("augment_scale", config_dict.placeholder(tuple), "e.g. (0.5, 2.0): random "
             "rescaling within these factors"),
            ("crop_size", 0, "> 0: random square crops of this side (void-padded)"),
            ("sampling", "replacement", "the reference's; or 'epochs' (shuffled once per "
             "epoch)"),
            ("workers", 0, "grain processes decoding and augmenting (0: this one)"),
        )),
        ("optimizer (the modern recipe; the VOC configs hold the reference's)", (
            ("optimizer.name", "adam", "'adam' or 'sgd'"),
            ("optimizer.learning_rate", 1e-3, "the base learning rate"),
            ("optimizer.lr_schedule", "poly", "'poly' (to 0 at total_steps) or 'fixed'"),
            ("optimizer.momentum", 0.9, "SGD's momentum (the reference's: 0.99)"),
            ("optimizer.weight_decay", 0.0, "L2 weight decay (the reference's: 5e-4)"),
            ("optimizer.bias_lr_mult", 2.0, "biases learn at this times the rate, no decay"),
            ("optimizer.accumulate_steps", 1, "> 1: gradients summed over this many batches "
             "per update"),
        )),
        ("loss", (
            ("loss.normalize", "mean", "'mean' over valid pixels, or 'sum' (the reference's)"),
            ("loss.keep_rate", config_dict.placeholder(float), "e.g. 0.25: each pixel's loss kept "
             "at this rate (paper, 4.4)"),
            ("loss.class_weights", config_dict.placeholder(tuple), "one weight per class, "
             "scaling each pixel's loss"),
        )),
    )  # fmt: skip


def get_config() -> ConfigDict:
    config = ConfigDict()
    for _, fields in groups():
        for name, default, _ in fields:
            group, _, key = name.rpartition(".")
            if group and group not in config:
                config[group] = ConfigDict()
            (config[group] if group else config)[key] = default
    return config


def reference_config(
    *,
    dataset: str,
    arch: str,
    learning_rate: float,
    init_from: str,
    total_steps: int = 100_000,
    **fields,
) -> ConfigDict:
    """A reference-net config: full width, ``caffe`` alignment, batch 1, the reference solver
    (SGD, momentum 0.99, fixed rate, summed loss, decay 5e-4, biases at 2x), evaluated and
    checkpointed every 4,000 steps as the reference ``solve.py`` scripts do."""
    config = get_config()
    config.dataset, config.arch, config.init_from = dataset, arch, init_from
    config.width, config.align = 1.0, "caffe"
    config.total_steps, config.eval_every, config.checkpoint_every = total_steps, 4000, 4000
    config.batch_size, config.log_every, config.flip = 1, 20, False
    config.optimizer.name, config.optimizer.lr_schedule = "sgd", "fixed"
    config.optimizer.learning_rate, config.optimizer.momentum = learning_rate, 0.99
    config.optimizer.weight_decay = 5e-4
    config.loss.normalize = "sum"
    for key, value in fields.items():
        config[key] = value
    return config


def torchvision_recipe_config(*, dataset: str, arch: str, init_from: str) -> ConfigDict:
    """A dilated ResNet FCN config with torchvision's segmentation recipe scaled to one host:
    SGD, momentum 0.9, learning rate 0.01 with poly decay, weight decay 1e-4, mean loss, batch 8
    of 480x480 random crops after 0.5-2x scaling and flips, batch norm trained, the auxiliary
    head's loss at 0.5."""
    config = get_config()
    config.dataset, config.arch, config.init_from = dataset, arch, init_from
    config.width, config.train_bn, config.batch_size = 1.0, True, 8
    config.augment_scale, config.crop_size, config.flip = (0.5, 2.0), 480, True
    config.total_steps, config.eval_every, config.checkpoint_every = 30_000, 2000, 2000
    config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.01
    config.optimizer.lr_schedule, config.optimizer.momentum = "poly", 0.9
    config.optimizer.weight_decay = 1e-4
    config.loss.normalize, config.aux_loss_weight = "mean", 0.5
    return config
