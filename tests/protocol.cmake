# The protocol layer: framing, packet handlers and the target description,
# tested with byte buffers alone.
dx_test(test_codec test_codec.c)
target_link_libraries(test_codec PRIVATE dx_protocol)

# A session whose allocations fail on demand (the linker wraps realloc).
dx_test(test_session_faults test_session_faults.c)
target_link_libraries(test_session_faults PRIVATE dx_protocol)
target_link_options(test_session_faults PRIVATE -Wl,--wrap=realloc)
