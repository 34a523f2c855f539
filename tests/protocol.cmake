# The protocol layer: framing, packet handlers and the target description,
# tested with byte buffers alone.
dx_test(test_codec test_codec.c)
target_link_libraries(test_codec PRIVATE dx_protocol)
