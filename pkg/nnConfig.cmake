# find_package(nn) after an install: the INTERFACE target nn::nn, as
# add_subdirectory gives it. Found relative to this file (PREFIX/share/cmake/nn),
# so an installed tree may move.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
if(NOT TARGET nn::nn)
  get_filename_component(_nn_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
  add_library(nn::nn INTERFACE IMPORTED)
  set_target_properties(nn::nn PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_nn_prefix}/include")
  set_property(TARGET nn::nn APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
  if(NOT MSVC)
    set_property(TARGET nn::nn APPEND PROPERTY INTERFACE_LINK_LIBRARIES m)
  endif()
  unset(_nn_prefix)
endif()
