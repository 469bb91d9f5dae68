// Catch2 provides main(); Debian's libsystemc still needs an sc_main symbol to link.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <systemc>

int sc_main(int, char*[]) { return 0; }
