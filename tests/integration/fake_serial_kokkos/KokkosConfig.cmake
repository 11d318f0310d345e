# Stand-in for a Serial-only Kokkos installation (as Debian's binary package is), used to check
# that Meridian's configure step refuses it with a clear message.
set(Kokkos_DEVICES SERIAL)
set(Kokkos_ENABLE_SERIAL ON)
set(Kokkos_FOUND TRUE)
