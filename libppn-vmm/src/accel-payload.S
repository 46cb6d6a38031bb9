/* The KVM probe guest (accel.c holds its bytes; test-vmm checks that they
 * are what this assembles to):
 *   as --64 -o p.o accel-payload.S
 *   ld -e 0x100000 -m elf_x86_64 -Ttext=0x100000 --oformat binary -o p.bin p.o
 * A multiboot (a.out kludge) image loaded at 1 MiB: it enters long mode,
 * rewrites a live page table 512 times, touching every page it maps after
 * each round, checks the sums and writes 0x2a to isa-debug-exit (0xf4). */
        .text
        .code32
hdr:    .long 0x1BADB002
        .long 0x00010000
        .long -(0x1BADB002 + 0x00010000)
        .long hdr, hdr, 0, 0, start
start:  cli
        mov $0x102000, %edi      /* PML4, PDPT, PD, PT: 4 zeroed pages */
        xor %eax, %eax
        mov $4096, %ecx
        rep stosl
        movl $0x103003, 0x102000 /* PML4[0] -> PDPT */
        movl $0x104003, 0x103000 /* PDPT[0] -> PD */
        movl $0x000083, 0x104000 /* PD[0]: 2 MiB page at 0 */
        movl $0x105003, 0x104008 /* PD[1] -> PT for 2..4 MiB */
        mov %cr4, %eax
        or $0x20, %eax           /* PAE */
        mov %eax, %cr4
        mov $0x102000, %eax
        mov %eax, %cr3
        mov $0xC0000080, %ecx    /* EFER.LME */
        rdmsr
        or $0x100, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80000001, %eax     /* PG | PE */
        mov %eax, %cr0
        lgdt gdtr
        ljmp $0x08, $long64
        .code64
long64: mov $512, %r8d           /* rounds */
3:      mov $0x105000, %rdi      /* rewrite the 512 PTEs of the live table */
        mov $0x200003, %eax
        mov $512, %ecx
4:      mov %rax, (%rdi)
        add $8, %rdi
        add $0x1000, %eax
        loop 4b
        mov %cr3, %rax           /* flush */
        mov %rax, %cr3
        mov $0x200000, %rdi      /* touch every page through it */
        mov $512, %ecx
5:      addl %r8d, (%rdi)
        add $0x1000, %rdi
        loop 5b
        dec %r8d
        jnz 3b
        mov $0x200000, %rdi      /* each page now holds 512*513/2 = 131328 */
        mov $512, %ecx
6:      cmpl $131328, (%rdi)
        jne 2f
        add $0x1000, %rdi
        loop 6b
        mov $0xf4, %dx
        mov $0x2a, %al
        out %al, %dx
2:      hlt
        jmp 2b
        .p2align 3
gdt:    .quad 0
        .quad 0x00209A0000000000
gdtr:   .word 15
        .long gdt
