/* Entry points of the freestanding restorer, x86_64 SysV ABI. */
	.text

/* _start: switch to the restorer's own stack (in .bss, inside the reserved
   range) at once, so the kernel's [stack] can be unmapped later. */
	.globl _start
	.type _start, @function
_start:
	mov %rsp, %rdi
	mov restorer_stack_top(%rip), %rsp
	and $-16, %rsp
	call restorer_main
	hlt

/* long restorer_clone(flags, stack_top, ptid, ctid, tls, fn, arg):
   clone(2) whose child calls fn(arg) on stack_top and never returns. */
	.globl restorer_clone
	.type restorer_clone, @function
restorer_clone:
	mov 8(%rsp), %rax
	sub $16, %rsi
	mov %rax, 8(%rsi)
	mov %r9, 0(%rsi)
	mov %rcx, %r10
	mov $56, %eax
	syscall
	test %rax, %rax
	jnz 1f
	pop %rax
	pop %rdi
	and $-16, %rsp
	call *%rax
	hlt
1:	ret

/* long restorer_clone3(struct clone_args*, size, fn, arg): as above, with
   clone3; the child's stack top is args->stack + args->stack_size, where the
   caller has put nothing: fn and arg travel in callee-saved registers. */
	.globl restorer_clone3
	.type restorer_clone3, @function
restorer_clone3:
	push %rbx
	push %r12
	mov %rdx, %rbx
	mov %rcx, %r12
	mov $435, %eax
	syscall
	test %rax, %rax
	jnz 1f
	and $-16, %rsp
	mov %r12, %rdi
	call *%rbx
	hlt
1:	pop %r12
	pop %rbx
	ret

/* restorer_sigreturn(uc): rt_sigreturn from a saved signal frame. */
	.globl restorer_sigreturn
	.type restorer_sigreturn, @function
restorer_sigreturn:
	mov %rdi, %rsp
	mov $15, %eax
	syscall
	hlt

	.section .note.GNU-stack,"",@progbits
