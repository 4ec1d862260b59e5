# Run by 'cmake --install' (see CMakeLists.txt here): the Go programs, the rendered systemd unit,
# the examples that name the install prefix. Set before: go_programs, strip_program,
# new_restic_server, source_dir, work_dir.
set(deps_prefix "$ENV{DEPS_PREFIX}")
if(deps_prefix STREQUAL "")
  set(deps_prefix "$ENV{HOME}/.cache/restic-backup-toolkit")
endif()
set(root "$ENV{BACKUP_ROOT}")
if(root STREQUAL "")
  set(root /backups)
endif()
set(libexec "${CMAKE_INSTALL_PREFIX}/libexec/restic-backup")
file(MAKE_DIRECTORY "${work_dir}")

foreach(name ${go_programs})
  set(program "${deps_prefix}/bin/${name}")
  if(NOT EXISTS "${program}")
    message(FATAL_ERROR "install: error: unable to install ${name}: ${program} does not exist "
                        "(run 'make deps', or set DEPS_PREFIX)")
  endif()
  file(INSTALL DESTINATION "${libexec}" TYPE PROGRAM FILES "${program}")
  if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND "${strip_program}" "$ENV{DESTDIR}${libexec}/${name}"
                    RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "install: error: unable to strip ${libexec}/${name}: ${status}")
    endif()
  endif()
endforeach()

# The unit as new-restic-server renders it for this root and the stop helper installed above:
# the one template, never a second copy edited by hand.
set(unit "${work_dir}/restic-backup-runsvdir.service")
execute_process(COMMAND "${new_restic_server}" -c /dev/null --systemd-unit --root "${root}"
                        --stop-helper "${libexec}/restic-backup-stop"
                OUTPUT_FILE "${unit}" ERROR_VARIABLE error RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "install: error: unable to render the systemd unit for ${root}: ${error}")
endif()
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE FILES "${unit}")

# The cron files and services run the tools by their absolute paths (where they were installed)
# and name the root they were installed for.
file(GLOB scheduled RELATIVE "${source_dir}/examples" "${source_dir}/examples/*.cron"
     "${source_dir}/examples/*.service")
foreach(name ${scheduled})
  file(READ "${source_dir}/examples/${name}" text)
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_PREFIX}/bin/" text "${text}")
  string(REPLACE " /backups" " ${root}" text "${text}")
  string(REPLACE "=/backups" "=${root}" text "${text}")
  file(WRITE "${work_dir}/${name}" "${text}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/share/doc/restic-backup-toolkit/examples"
       TYPE FILE FILES "${work_dir}/${name}")
endforeach()
