"""The names the command line offers as choices: nets, alignments and weight formats. Plain
tuples, importing nothing, so that ``fcn-jax --help`` answers without loading JAX; the code
that builds or reads what they name imports them from here."""

# FCNs (fcn_jax.models.build)
ARCHS = (
    "fcn32s", "fcn16s", "fcn8s", "fcn8s-atonce", "fcn-alexnet",
    "fcn32s-googlenet", "fcn16s-googlenet", "fcn8s-googlenet",
    "fcn-resnet50", "fcn-resnet101",
)  # fmt: skip
# Convolutionalized classifiers (coarse class-score maps; for imported ImageNet weights).
CLASSIFIERS = ("vgg16", "alexnet", "googlenet")
ALIGNMENTS = ("caffe", "same")
# Weight files fcn-jax convert reads (fcn_jax.weights.importers.read_layers)
FORMATS = ("caffe", "torchfcn", "torchvision", "timm")
