"""The bundled e5 model: converting it, the int8 ONNX encoder, embeddings, and the reader."""
