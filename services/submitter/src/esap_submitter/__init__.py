"""esap-batch submitter: turns accepted jobs into backend jobs (SubmitJob) and kills them on abort (KillJob).

Consumes the submitter queue; publishes JobSubmitted, JobSubmissionFailed, JobKillFailed and, after a kill,
JobStatusObserved. Holds no database: the backends (the local executor's job directories) keep the state.
"""
