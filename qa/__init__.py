"""政务知识问答: question answering over Chinese government documents."""

__version__ = "0.1.0"
