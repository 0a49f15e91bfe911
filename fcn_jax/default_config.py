"""The built-in default: a width-reduced FCN-8s on the synthetic dataset, about ten minutes on
two CPU cores (``fcn-jax train`` with no arguments). Every config starts from this one.
Every field's type and range or choices: ``fcn_jax/cli/config_check.SCHEMA``, checked before
any work (a new field goes in both).

    fcn-jax train --workdir runs/synthetic
"""

from ml_collections import ConfigDict, config_dict


def get_config() -> ConfigDict:
    config = ConfigDict()
    config.dataset = "synthetic"  # or "folder:PATH" (images/, masks/, see fcn_jax.data.folder)
    config.on_error = "raise"  # folder datasets: "skip" leaves bad pairs out and lists them
    config.data_dir = ""  # prepared (TFDS) datasets: default ~/tensorflow_datasets
    config.input = "color"  # or "hha", "color+depth" (NYUD early fusion)
    config.tasks = ("semantic",)
    config.num_train = 2000  # synthetic only: images in the train / val splits
    config.num_val = 100
    config.image_sizes = (96, 112, 128)  # synthetic only: each side drawn from these
    # model
    config.arch = "fcn8s"
    config.width = 0.125
    config.align = "same"
    config.learnable_upsampling = False
    config.train_bn = False  # fcn-resnet*: train batch-norm statistics (else frozen)
    config.aux_loss_weight = 0.0  # fcn-resnet*: > 0 builds the auxiliary head, adds its loss
    config.init_from = ""  # a training workdir (staged), fcn-jax convert's DIR, or an .npz
    # run length and cadence (every config has these)
    config.total_steps = 1200
    config.eval_every = 400
    config.checkpoint_every = 400
    config.batch_size = 8
    config.seed = 0
    # devices: data parallel over every device of every process ('sharding': jit with a
    # NamedSharding on a ('data',) mesh; 'pmap': the same step under jax.pmap)
    config.parallel = "sharding"
    config.num_devices = 0  # 0: all; N: the first N devices (one process only)
    config.dtype = "float32"  # or "bfloat16": compute in bfloat16, float32 master weights
    # which convolution forms run (fcn_jax/kernels): "auto" picks the fastest measured form
    # for each layer on this backend; "xla" runs lax.conv_general_dilated everywhere
    config.kernels = "auto"
    config.remat = False  # recompute activations in the backward pass (big images)
    config.compilation_cache = True  # fcn-jax train: XLA's persistent cache in WORKDIR/xla_cache
    # fcn-jax train: glibc keeps freed memory for the next step (allocator.py): 'on', 'off', or
    # 'auto': on when every batch has one shape (crop_size > 0), where it saves each step's page
    # faults; with whole images, whose shape changes every step, it saves nothing (allocator.py)
    config.keep_freed_memory = "auto"
    config.log_every = 10
    config.keep_checkpoints = 2
    config.num_tiles = 4
    # input
    config.bucket_multiple = 32
    config.flip = True
    config.augment_scale = config_dict.placeholder(tuple)  # e.g. (0.5, 2.0): random rescaling
    config.crop_size = 0  # > 0: random crops of this size (padded with void where needed)
    config.sampling = "replacement"  # the reference's; or "epochs" (shuffled once per epoch)
    config.workers = 0  # grain worker processes decoding and augmenting
    # solver: the modern recipe (the reference's is in the VOC configs)
    config.optimizer = ConfigDict()
    config.optimizer.name = "adam"
    config.optimizer.learning_rate = 1e-3
    config.optimizer.lr_schedule = "poly"
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 0.0
    config.optimizer.bias_lr_mult = 2.0
    config.optimizer.accumulate_steps = 1
    config.loss = ConfigDict()
    config.loss.normalize = "mean"
    config.loss.keep_rate = config_dict.placeholder(float)  # loss sampling, paper section 4.4
    config.loss.class_weights = config_dict.placeholder(tuple)
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
