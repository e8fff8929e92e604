"""The autograder: nbgrader's Autograde run in parallel workers, with student code in a bubblewrap sandbox.

Kept free of imports: the kernel zygote (``course.autograde.zygote``) starts inside the sandbox and must import
nothing it does not need.
"""
