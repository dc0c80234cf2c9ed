/* page — the live picture of the cube (page.html beside this file), built
 * into the binary so the node serves it with no network and no CDN. */
#include <stddef.h>

__asm__(".section .rodata\n"
        ".global monitor_page\n"
        ".hidden monitor_page\n"
        ".type monitor_page, @object\n"
        ".balign 16\n"
        "monitor_page:\n"
        ".incbin \"src/node/page.html\"\n"
        "monitor_page_end:\n"
        ".byte 0\n"
        ".global monitor_page_len\n"
        ".hidden monitor_page_len\n"
        ".type monitor_page_len, @object\n"
        ".balign 8\n"
        "monitor_page_len:\n"
        ".quad monitor_page_end - monitor_page\n"
        ".previous\n");
