"""Python toolchain of VAR Studio: VAR model code, training, ONNX export and fixtures."""
