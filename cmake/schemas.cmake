# kc_schema_sources(ROOT OUT_VAR): generated C files that compile the Avro
# schemas in ROOT/schemas into libcore (see cmake/embed.cmake).
function(kc_schema_sources root out_var)
  set(srcs)
  foreach(pair "ClassificationRequest:kc_avro_schema_request_json"
               "ClassificationResult:kc_avro_schema_result_json"
               "SlaAlert:kc_avro_schema_alert_json")
    string(REPLACE ":" ";" parts ${pair})
    list(GET parts 0 name)
    list(GET parts 1 var)
    set(in ${root}/schemas/${name}.avsc)
    set(out ${CMAKE_BINARY_DIR}/gen/schema_${name}.c)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DIN=${in} -DOUT=${out} -DVAR=${var} -P ${root}/cmake/embed.cmake
      DEPENDS ${in} ${root}/cmake/embed.cmake)
    list(APPEND srcs ${out})
  endforeach()
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()
