"""macs.corpus"""
