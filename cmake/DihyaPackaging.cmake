# SPDX-License-Identifier: AGPL-3.0-or-later
# Operator files and the Debian package. Everything installs relative to the
# prefix (the binary finds its plugins as <prefix>/<libdir>/dihya/plugins), but
# the config example follows the FHS: /etc/dihya when the prefix is /usr (the
# .deb), <prefix>/etc/dihya otherwise — the same rule the host reads it by
# (file(INSTALL) adds DESTDIR itself).
install(CODE "set(DIHYA_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(dihya_etc "/etc/dihya")
  else()
    set(dihya_etc "${CMAKE_INSTALL_PREFIX}/etc/dihya")
  endif()
  file(INSTALL "${DIHYA_SOURCE_DIR}/host/share/config.example.yaml" DESTINATION "${dihya_etc}")
]])
install(FILES ${PROJECT_SOURCE_DIR}/host/share/dihya-host.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME dihya-host)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/systemd ${PROJECT_SOURCE_DIR}/examples/kubernetes
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The man page is generated from the --help texts, so it cannot drift from them.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(DIHYA_MAN_PAGE ${PROJECT_BINARY_DIR}/dihya-host.1)
  add_custom_command(OUTPUT ${DIHYA_MAN_PAGE}
    COMMAND ${PROJECT_SOURCE_DIR}/host/share/make-man.sh $<TARGET_FILE:dihya-host> ${DIHYA_MAN_PAGE}
    DEPENDS dihya-host ${PROJECT_SOURCE_DIR}/host/share/make-man.sh
    COMMENT "Generating the dihya-host man page")
  add_custom_target(man ALL DEPENDS ${DIHYA_MAN_PAGE})
  install(FILES ${DIHYA_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(WARNING "help2man not found: no man page (scripts/install-deps.sh installs it)")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dihya-host)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "plugin host for the Dihya Coding platform's operational scripts")
set(CPACK_PACKAGE_DESCRIPTION "Runs each operations script (backup, migration, GDPR cleanup, audits...) as a
shared-library plugin with typed parameters, dry-run, supervision, rollback and a tamper-evident audit log.")
set(CPACK_PACKAGE_CONTACT "dihya-host maintainers <dihya-host@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# libpq, vectorscan and (for signed plugins) libcrypto are loaded with dlopen (dpkg-shlibdeps
# cannot see them); pg_ctl/initdb/pg_dump come from the server and client packages.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpq5, libssl3, libvectorscan5")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-15, postgresql-client-15")
include(CPack)
